-- vibration-rollup — hourly per-sensor rollups of ground-vibration readings to Parquet, and immediate
-- alerts when a reading exceeds 25 mm/s (DESIGN §4). The SQL twin of vibration-rollup.toml: the same plan,
-- the same outputs, the same WEIR_* variables.
--
--   weir run config/vibration-rollup.sql      (reads WEIR_VIBRATION_INPUT, writes under WEIR_OUT)

SET job.name = 'vibration-rollup';
SET job.workers = 2;

CREATE TABLE vibration (
  sensor_id STRING, site STRING, ts BIGINT, ppv_mm_s DOUBLE, freq_hz DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_VIBRATION_INPUT:-data/vibration.jsonl}', 'format' = 'jsonl');

-- site is carried: a column neither grouped nor aggregated, copied from the window's first record.
CREATE VIEW hourly AS
SELECT window_start, window_end, sensor_id, site,
       COUNT(*) AS readings,
       MIN(ppv_mm_s) AS ppv_min,
       MAX(ppv_mm_s) AS ppv_max,
       AVG(ppv_mm_s) AS ppv_mean,
       RMS(ppv_mm_s) AS ppv_rms,
       APPROX_PERCENTILE(ppv_mm_s, 0.5) AS ppv_p50,
       APPROX_PERCENTILE(ppv_mm_s, 0.9) AS ppv_p90,
       APPROX_PERCENTILE(ppv_mm_s, 0.99) AS ppv_p99,
       MAX(freq_hz) AS freq_max,
       COUNT(*) FILTER (WHERE ppv_mm_s > 5.0) AS over_limit
FROM TABLE(TUMBLE(TABLE vibration, DESCRIPTOR(ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, sensor_id;

-- An alert per reading over 25 mm/s, at most one per sensor per 10 minutes of event time.
CREATE VIEW exceeded AS
SELECT sensor_id, site, ppv_mm_s
FROM TABLE(ALERT(TABLE vibration PARTITION BY sensor_id,
  when => ppv_mm_s > 25.0, cooldown => INTERVAL '10' MINUTE,
  alert => 'vibration_exceeded', severity => 'critical'));

CREATE TABLE rollups WITH ('connector' = 'parquet', 'path' = '${WEIR_OUT:-out}/vibration/rollups', 'partition_by' = 'hour');
CREATE TABLE alerts WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/vibration/alerts.jsonl');
-- Malformed and late records go to the sink named dead_letters.
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/vibration/dead_letters.jsonl');

INSERT INTO rollups TABLE hourly;
INSERT INTO alerts TABLE exceeded;
