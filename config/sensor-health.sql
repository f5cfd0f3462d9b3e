-- sensor-health — data-quality checks on the vibration stream as it flows, all to one alert sink. The SQL
-- twin of sensor-health.toml (same plan, same outputs, same WEIR_* variables):
--   sensor_silent / sensor_resumed   a sensor with no reading for 2 min, and its next reading   (ABSENCE)
--   reading_out_of_range             a reading outside the physical range of the geophones       (ALERT)
--   low_volume                       fewer than 150 readings (of 300 at 1 Hz) in a 5-min window  (TUMBLE → ALERT)
--   malformed_burst                  50 or more malformed records from the source in 5 min       (dead letters → TUMBLE → ALERT)
--
--   weir run config/sensor-health.sql

SET job.name = 'sensor-health';
SET job.workers = 2;

CREATE TABLE vibration (
  sensor_id STRING, site STRING, ts BIGINT, ppv_mm_s DOUBLE, freq_hz DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_VIBRATION_INPUT:-data/vibration.jsonl}', 'format' = 'jsonl');

CREATE VIEW silent AS
SELECT sensor_id, site
FROM TABLE(ABSENCE(TABLE vibration PARTITION BY sensor_id,
  silence => INTERVAL '2' MINUTE, alert => 'sensor_silent', severity => 'critical',
  resumed => 'sensor_resumed', retention => INTERVAL '24' HOUR));

CREATE VIEW out_of_range AS
SELECT sensor_id, site, ppv_mm_s, freq_hz
FROM TABLE(ALERT(TABLE vibration PARTITION BY sensor_id,
  when => ppv_mm_s < 0 OR ppv_mm_s > 200 OR freq_hz <= 0 OR freq_hz > 500,
  alert => 'reading_out_of_range', severity => 'warning'));

CREATE VIEW volume AS
SELECT window_start, window_end, sensor_id, site, COUNT(*) AS readings
FROM TABLE(TUMBLE(TABLE vibration, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, sensor_id;

CREATE VIEW low_volume AS
SELECT sensor_id, site, readings, window_start
FROM TABLE(ALERT(TABLE volume PARTITION BY sensor_id,
  when => readings < 150, alert => 'low_volume', severity => 'warning'));

-- A dead letter's event time is its arrival watermark: the windows of the stream's own time.
CREATE VIEW malformed AS
SELECT window_start, window_end, source, COUNT(*) AS malformed
FROM TABLE(TUMBLE(TABLE vibration.dead_letters, DESCRIPTOR(arrival_watermark), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, source;

CREATE VIEW malformed_burst AS
SELECT source, malformed, window_start
FROM TABLE(ALERT(TABLE malformed PARTITION BY source,
  when => malformed >= 50, alert => 'malformed_burst', severity => 'warning'));

CREATE TABLE alerts WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/sensor-health/alerts.jsonl');
-- The malformed records themselves (the window above only counts them), and everything else that is
-- dead-lettered: late readings, failed expressions.
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/sensor-health/dead_letters.jsonl');

INSERT INTO alerts
SELECT * FROM silent UNION ALL SELECT * FROM out_of_range
UNION ALL SELECT * FROM low_volume UNION ALL SELECT * FROM malformed_burst;
INSERT INTO dead_letters SELECT * FROM vibration.dead_letters;
