-- vibration-daily — the raw readings archived to Parquet by hour, hourly rollups that keep a mergeable
-- quantile sketch per sensor, and daily rollups merged from those hourly rows (a day's p99 from 24 hourly
-- sketches, within 1 % of the exact value). The SQL twin of vibration-daily.toml (same plan, same outputs,
-- same WEIR_* variables).
--
--   weir run config/vibration-daily.sql

SET job.name = 'vibration-daily';
SET job.workers = 2;

CREATE TABLE vibration (
  sensor_id STRING, site STRING, ts BIGINT, ppv_mm_s DOUBLE, freq_hz DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_VIBRATION_INPUT:-data/vibration.jsonl}', 'format' = 'jsonl');

CREATE VIEW hourly AS
SELECT window_start, window_end, sensor_id, site,
       COUNT(*) AS readings,
       MAX(ppv_mm_s) AS ppv_max,
       SUM(ppv_mm_s) AS ppv_sum,
       APPROX_PERCENTILE(ppv_mm_s, 0.99) AS ppv_p99,
       SKETCH(ppv_mm_s) AS ppv_sketch,            -- a BINARY column: the hour's sketch, merged below
       COUNT(*) FILTER (WHERE ppv_mm_s > 5.0) AS over_limit
FROM TABLE(TUMBLE(TABLE vibration, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, sensor_id;

-- A day per sensor from its hourly rows, placed by their window_start.
CREATE VIEW daily AS
SELECT window_start, window_end, sensor_id, site,
       COUNT(*) AS hours,
       SUM(readings) AS readings,
       MAX(ppv_max) AS ppv_max,
       SUM(ppv_sum) AS ppv_sum,
       QUANTILE(ppv_sketch, 0.5) AS ppv_p50,
       QUANTILE(ppv_sketch, 0.99) AS ppv_p99,
       SUM(over_limit) AS over_limit
FROM TABLE(TUMBLE(TABLE hourly, DESCRIPTOR(window_start), INTERVAL '1' DAY))
GROUP BY window_start, window_end, sensor_id;

CREATE TABLE raw WITH ('connector' = 'parquet', 'path' = '${WEIR_OUT:-out}/vibration-daily/raw', 'partition_by' = 'hour');
CREATE TABLE hourly_rollups WITH ('connector' = 'parquet', 'path' = '${WEIR_OUT:-out}/vibration-daily/hourly', 'partition_by' = 'date');
CREATE TABLE daily_rollups WITH ('connector' = 'parquet', 'path' = '${WEIR_OUT:-out}/vibration-daily/daily', 'partition_by' = 'date');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/vibration-daily/dead_letters.jsonl');

INSERT INTO raw TABLE vibration;
INSERT INTO hourly_rollups TABLE hourly;
INSERT INTO daily_rollups TABLE daily;
