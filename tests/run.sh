#!/usr/bin/env bash
# The whole weir test suite, from a fresh clone: installs what it needs, then runs formatting, lint and every
# test. `.ci/run` calls this same script.
#
#   tests/run.sh            # everything
#   WEIR_SKIP_PY=1 tests/run.sh   # without the Python readers (pyarrow, DuckDB) and gen_events.py checks
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs" >&2; exit 1; }

if [ "${WEIR_SKIP_PY:-0}" != "1" ]; then
  say "Python readers for the Parquet checks (pyarrow, DuckDB) and numpy for shared/workload/gen_events.py"
  if ! python3 -c 'import pyarrow, duckdb, numpy' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'pyarrow==26.0.1' 'duckdb==2.0.0' 'numpy==2.4.6' \
      || { echo "could not install pyarrow/duckdb/numpy; rerun with WEIR_SKIP_PY=1 to test without them" >&2; exit 1; }
  fi
  export WEIR_REQUIRE_PY_READERS=1
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings

say "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --workspace --no-fail-fast
else
  cargo test --release --workspace --no-fail-fast
fi
