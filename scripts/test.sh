#!/usr/bin/env bash
# Runs every test. Needs no set-up beyond a Rust toolchain: installs the wasm
# target, builds the examples, and provides PostgreSQL: DATABASE_URL when set
# (any database on the server; each test creates its own), otherwise a
# throwaway cluster started here and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/postgres.sh

build_all
if [ -z "${DATABASE_URL:-}" ]; then
    start_throwaway_postgres
fi
export DURO_EXAMPLES_DIR="$PWD/target/wasm32-wasip2/release"
cargo test --locked -p duro-host -p duro-sdk
