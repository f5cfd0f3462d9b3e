-- courier-ingest — couriers' apps POST their pings over HTTP or publish them over MQTT; nothing acknowledged
-- is lost (DESIGN §11): the last location of every courier is served over HTTP, every ping is archived to a
-- Delta table partitioned by hour, and each courier's 15-minute stats are upserted into PostgreSQL for the
-- app. The SQL twin
-- of courier-ingest.toml (same plan, same outputs, same WEIR_* variables).
--
--   PG_URL=postgresql://weir@127.0.0.1:5432/fleet weir run config/courier-ingest.sql

SET job.name = 'courier-ingest';
SET job.workers = 2;
SET job.checkpoint.dir = '${WEIR_CHECKPOINTS:-checkpoints/courier-ingest}';
SET job.checkpoint.interval = '5s';
SET serve.listen = '${WEIR_LISTEN:-127.0.0.1:7878}';

-- POST /v1/ingest/posted. A source quiet for a minute stops holding the windows back (idle_timeout).
CREATE TABLE posted (
  courier STRING, ts TIMESTAMP(3), lat DOUBLE, lon DOUBLE, speed_kmh DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'http', 'idle_timeout' = '${WEIR_IDLE_TIMEOUT:-1m}');

CREATE TABLE published (
  courier STRING, ts TIMESTAMP(3), lat DOUBLE, lon DOUBLE, speed_kmh DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'mqtt', 'url' = '${WEIR_MQTT_URL:-mqtt://127.0.0.1:1883}', 'topics' = 'fleet/+/pings',
        'idle_timeout' = '${WEIR_IDLE_TIMEOUT:-1m}');

CREATE VIEW pings AS SELECT * FROM posted UNION ALL SELECT * FROM published;

-- Couriers not seen for a day of event time leave the view.
CREATE VIEW couriers AS
SELECT * FROM TABLE(LATEST(TABLE pings PARTITION BY courier, idle_ttl => INTERVAL '24' HOUR));

CREATE VIEW stats AS
SELECT window_start, window_end, courier,
       COUNT(*) AS pings, AVG(speed_kmh) AS speed_mean, MAX(speed_kmh) AS speed_max
FROM TABLE(TUMBLE(TABLE pings, DESCRIPTOR(ts), INTERVAL '15' MINUTE))
GROUP BY window_start, window_end, courier;

CREATE TABLE archive WITH ('connector' = 'delta', 'path' = '${WEIR_OUT:-out}/courier-ingest/pings', 'partition_by' = 'hour');
CREATE TABLE stats_pg (PRIMARY KEY (courier, window_start) NOT ENFORCED)
  WITH ('connector' = 'postgres', 'url' = '${PG_URL:-postgresql://weir@127.0.0.1:5432/fleet}', 'table' = 'courier_stats');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/courier-ingest/dead_letters.jsonl');

INSERT INTO archive TABLE pings;
INSERT INTO stats_pg TABLE stats;
