-- fleet-enriched — a transport fleet's location pings enriched with a slowly changing vehicle table in
-- PostgreSQL: dashboards of pings / mean / p90 distance from the vehicle's depot per 15 min per vehicle type
-- (Parquet), and an alert when a vehicle is farther from its depot than its type's range. The SQL twin of
-- fleet-enriched.toml (same plan, same outputs, same WEIR_* variables; its header says how to load the table).
--
--   weir run config/fleet-enriched.sql

SET job.name = 'fleet-enriched';
SET job.workers = 2;

CREATE TABLE locations (
  order_id STRING, deliverer_id STRING,
  state STRING CHECK (state IN ('assigned', 'picked_up', 'en_route', 'delivered')),
  ts BIGINT, lat DOUBLE, lon DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH ('connector' = 'file', 'path' = '${WEIR_LOCATIONS_INPUT:-data/locations.jsonl}');

-- The vehicle table, polled every 10 s: a versioned table (Flink's shape) — a row holds from its updated_at
-- on, and a change may be committed up to 1 s after its updated_at.
CREATE TABLE vehicles (
  vehicle_id STRING, vehicle_type STRING, depot_lat DOUBLE, depot_lon DOUBLE, max_range_km DOUBLE,
  updated_at TIMESTAMP(3),
  PRIMARY KEY (vehicle_id) NOT ENFORCED,
  WATERMARK FOR updated_at AS updated_at - INTERVAL '1' SECOND
) WITH ('connector' = 'postgres', 'url' = '${WEIR_FLEET_DB:-postgresql://weir@127.0.0.1:5432/fleet}',
        'table' = 'vehicles', 'interval' = '10s');

-- Every ping with its vehicle's row as of the ping's event time; a ping of a vehicle the table does not
-- know goes to the dead letters ("no match in table vehicles").
CREATE VIEW pings AS
SELECT l.*, v.vehicle_type, v.depot_lat, v.depot_lon, v.max_range_km
FROM locations AS l
JOIN vehicles FOR SYSTEM_TIME AS OF l.ts AS v ON l.deliverer_id = v.vehicle_id;

-- Equirectangular distance (good to a few metres over a city): 0.79 = cos(37.87°), the fleet's latitude.
CREATE VIEW located AS
SELECT order_id, deliverer_id, state, ts, lat, lon, vehicle_type, max_range_km,
       111.2 * sqrt(power(lat - depot_lat, 2) + power(0.79 * (lon - depot_lon), 2)) AS km_from_depot
FROM pings;

CREATE VIEW dashboard AS
SELECT window_start, window_end, vehicle_type,
       COUNT(*) AS pings,
       AVG(km_from_depot) AS km_mean,
       APPROX_PERCENTILE(km_from_depot, 0.9) AS km_p90,
       MAX(km_from_depot) AS km_max
FROM TABLE(TUMBLE(TABLE located, DESCRIPTOR(ts), INTERVAL '15' MINUTE))
GROUP BY window_start, window_end, vehicle_type;

-- A reading compared with a joined limit.
CREATE VIEW out_of_range AS
SELECT deliverer_id, vehicle_type, km_from_depot, max_range_km, lat, lon
FROM TABLE(ALERT(TABLE located PARTITION BY deliverer_id,
  when => km_from_depot > max_range_km, cooldown => INTERVAL '15' MINUTE,
  alert => 'vehicle_out_of_range', severity => 'warning'));

-- A sink table may share the name of the view it writes (sinks are only written).
CREATE TABLE dashboard WITH ('connector' = 'parquet', 'path' = '${WEIR_OUT:-out}/fleet-enriched/dashboard', 'partition_by' = 'date');
CREATE TABLE alerts WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/fleet-enriched/alerts.jsonl');
CREATE TABLE dead_letters WITH ('connector' = 'jsonl', 'path' = '${WEIR_OUT:-out}/fleet-enriched/dead_letters.jsonl');

INSERT INTO dashboard TABLE dashboard;
INSERT INTO alerts TABLE out_of_range;
