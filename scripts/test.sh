#!/usr/bin/env bash
# Runs every test. Needs no set-up beyond a Rust toolchain (and Python 3 for
# the Python workflows, schemathesis and Playwright): installs the wasm
# target, builds the examples, installs schemathesis, Chromium and
# Playwright, and provides PostgreSQL: DATABASE_URL
# when set (any database on the server; each test creates its own),
# otherwise a throwaway cluster started here and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/postgres.sh

build_all
install_schemathesis
install_browser_tests
if [ -z "${DATABASE_URL:-}" ]; then
    start_throwaway_postgres
fi
export DURO_EXAMPLES_DIR="$PWD/target/wasm32-wasip2/release"
export DURO_SCHEMATHESIS="$PWD/target/schemathesis-venv/bin/st"
export DURO_BROWSER_PYTHON="$PWD/target/browser-venv/bin/python"
cargo test --locked -p duro-host -p duro-sdk -p approval --features duro-host/postgres-tests

# Standing rules: formatting, lints, and the layering of host/src (only the
# executor and the engine may touch wasmtime).
cargo fmt --all --check
cargo clippy --locked -p duro-host -p duro-sdk -p approval -p duro-bench -p shop-service --tests --features duro-host/postgres-tests -- -D warnings
if grep -rlE 'use wasmtime|wasmtime(_wasi)?::' host/src --exclude-dir=executor --exclude-dir=engine; then
    echo "the files above use wasmtime outside host/src/executor and host/src/engine" >&2
    exit 1
fi
