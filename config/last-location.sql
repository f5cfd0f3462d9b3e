-- last-location — the latest known position per order and per courier (DESIGN §4), safe against
-- out-of-order pings (an older ping never overwrites a newer one), served over HTTP and published as a
-- changelog. The SQL twin of last-location.toml (same plan, same outputs, same WEIR_* variables).
--
--   weir run config/last-location.sql
--   curl http://127.0.0.1:7878/v1/views/orders/o-0000042

SET job.name = 'last-location';
SET job.workers = 2;
-- Port 0 picks a free port; the address is printed on stderr.
SET serve.listen = '${WEIR_LISTEN:-127.0.0.1:7878}';

CREATE TABLE locations (
  order_id STRING, deliverer_id STRING,
  state STRING CHECK (state IN ('assigned', 'picked_up', 'en_route', 'delivered')),
  ts BIGINT, lat DOUBLE, lon DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_LOCATIONS_INPUT:-data/locations.jsonl}', 'format' = 'jsonl');

-- Delivered orders leave the view 24 h of event time after delivery; orders that never deliver after 72 h
-- without a ping.
CREATE VIEW orders AS
SELECT * FROM TABLE(LATEST(TABLE locations PARTITION BY order_id,
  terminal => state IN ('delivered'), ttl => INTERVAL '24' HOUR, idle_ttl => INTERVAL '72' HOUR));

-- Couriers not seen for 72 h of event time leave the view.
CREATE VIEW deliverers AS
SELECT * FROM TABLE(LATEST(TABLE locations PARTITION BY deliverer_id, idle_ttl => INTERVAL '72' HOUR));

CREATE TABLE changelog WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/last-location/changelog.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/last-location/dead_letters.jsonl');

INSERT INTO changelog SELECT * FROM orders UNION ALL SELECT * FROM deliverers;
