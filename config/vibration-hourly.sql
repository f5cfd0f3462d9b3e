-- The hourly vibration rollup per sensor, written the Flink way: a SQL job plans to the same graph as its
-- TOML twin (the `hourly` window of vibration-rollup.toml, with fewer aggregates), with the same outputs.
--
--   weir run config/vibration-hourly.sql      (reads WEIR_VIBRATION_INPUT, writes under WEIR_OUT)
--   weir explain config/vibration-hourly.sql

SET job.name = 'vibration-hourly';
SET job.workers = 2;

CREATE TABLE vibration (
  sensor_id STRING, site STRING, ts BIGINT, ppv_mm_s DOUBLE, freq_hz DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_VIBRATION_INPUT:-data/vibration.jsonl}', 'format' = 'jsonl');

CREATE TABLE rollups WITH ('connector' = 'parquet', 'path' = '${WEIR_OUT:-out}/vibration-hourly/rollups', 'partition_by' = 'hour');

-- Malformed and late records go to the sink named dead_letters, as in TOML.
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/vibration-hourly/dead_letters.jsonl');

CREATE VIEW hourly AS
SELECT window_start, window_end, sensor_id,
       LAST_VALUE(site) AS site,
       COUNT(*) AS readings,
       MAX(ppv_mm_s) AS ppv_max,
       AVG(ppv_mm_s) AS ppv_mean,
       APPROX_PERCENTILE(ppv_mm_s, 0.9) AS ppv_p90,
       COUNT(*) FILTER (WHERE ppv_mm_s > 5.0) AS over_limit
FROM TABLE(TUMBLE(TABLE vibration, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, sensor_id;

INSERT INTO rollups SELECT * FROM hourly;
