-- delivery-alerts — on-call alerts for courier deliveries (DESIGN §4), per order. The SQL twin of
-- delivery-alerts.toml (same plan, same outputs, same WEIR_* variables):
--   delivery_delayed  at first picked_up + 30 min, unless delivered by then          (DEADLINE)
--   delivery_resolved when a delayed order is delivered
--   courier_silent    at latest ping + 5 min, unless delivered                         (ABSENCE)
--   courier_resumed   on the next newer ping after that
--
--   weir run config/delivery-alerts.sql      (reads WEIR_LOCATIONS_INPUT, writes under WEIR_OUT)

SET job.name = 'delivery-alerts';
SET job.workers = 2;

-- A state outside the CHECK list makes the record a dead letter.
CREATE TABLE locations (
  order_id STRING, deliverer_id STRING,
  state STRING CHECK (state IN ('assigned', 'picked_up', 'en_route', 'delivered')),
  ts BIGINT, lat DOUBLE, lon DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_LOCATIONS_INPUT:-data/locations.jsonl}', 'format' = 'jsonl');

-- The first pickup starts the clock, delivery stops it (for good: one deadline per order). The alert
-- carries the order's newest ping, the pickup time and the deadline.
CREATE VIEW delayed AS
SELECT order_id, deliverer_id, lat, lon
FROM TABLE(DEADLINE(TABLE locations PARTITION BY order_id,
  start => state = 'picked_up', done => state = 'delivered', within => INTERVAL '30' MINUTE,
  alert => 'delivery_delayed', severity => 'warning', resolved => 'delivery_resolved',
  start_field => 'picked_up_at', deadline_field => 'deadline', retention => INTERVAL '24' HOUR));

-- Pings of a courier on the way; an older one never resets the timer.
CREATE VIEW silent AS
SELECT order_id, deliverer_id, lat, lon
FROM TABLE(ABSENCE(TABLE locations PARTITION BY order_id,
  of => state IN ('picked_up', 'en_route'), until => state = 'delivered', silence => INTERVAL '5' MINUTE,
  alert => 'courier_silent', severity => 'critical', resumed => 'courier_resumed',
  retention => INTERVAL '24' HOUR));

CREATE TABLE alerts WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/delivery/alerts.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/delivery/dead_letters.jsonl');

INSERT INTO alerts SELECT * FROM delayed UNION ALL SELECT * FROM silent;
