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

# Standing rules: formatting, lints, and the layering of host/src (only the
# executor and the engine may touch wasmtime).
cargo fmt --all --check
cargo clippy --locked -p duro-host -p duro-sdk --tests -- -D warnings
if grep -rln wasmtime host/src/api host/src/cli host/src/store host/src/journal; then
    echo "the files above import wasmtime outside executor/ and engine/" >&2
    exit 1
fi
