#!/usr/bin/env bash
# duro's benchmarks, in release mode (the first build takes several minutes).
# PostgreSQL rows use the server at DATABASE_URL (a database of their own on
# it, dropped afterwards) or start a throwaway cluster like the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/postgres.sh

cargo build --locked --release -p duro-host -p duro-bench -p shop-service
cargo build --locked --release --target wasm32-wasip2 -p hello -p countdown -p order-saga -p waiter
[ -n "${DATABASE_URL:-}" ] || start_throwaway_postgres

echo "### executor (in process)"
echo "| step | time |"
echo "| --- | --- |"
target/release/duro-bench executor

# Runs `duro-bench ARGS` on a database of its own on the PostgreSQL server,
# dropped afterwards.
on_postgres() {
    local bench_db="duro_bench_$$"
    psql -q "$DATABASE_URL" -c "CREATE DATABASE $bench_db"
    target/release/duro-bench "$@" --database "${DATABASE_URL%/*}/$bench_db"
    psql -q "$DATABASE_URL" -c "DROP DATABASE $bench_db WITH (FORCE)"
}

# Runs `duro-bench ARGS` on SQLite, then as `on_postgres` does.
on_both() {
    target/release/duro-bench "$@"
    on_postgres "$@"
}

e2e_header() {
    echo "| backend | hosts | workflows | in flight | throughput | p50 start→result | p99 | runs ended per host | CPU per workflow (ms) | cores busy |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
}

echo
echo "### end to end: hello workflows through duro serve"
e2e_header
on_both e2e

echo
echo "### end to end, many hosts: hello workflows through 1 and 2 duro serve on one PostgreSQL database"
echo "PostgreSQL fsync=$(psql -Atc 'SHOW fsync' "$DATABASE_URL"), synchronous_commit=$(psql -Atc 'SHOW synchronous_commit' "$DATABASE_URL"); $(nproc) cores"
e2e_header
for hosts in 1 2; do
    for in_flight in 16 64; do
        on_postgres e2e --hosts "$hosts" --concurrency "$in_flight" --workflows 3000
    done
done

echo
echo "### effects: order sagas (3 journaled HTTP calls each) against shop-service"
echo "| backend | sagas | in flight | sagas | effects | p50 start→result | p99 | commits per transaction |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
on_both effects

echo
echo "### waits: signal wake-up latency and the memory of 10,000 waiting workflows"
echo "| backend | what | latency or state | memory |"
echo "| --- | --- | --- | --- |"
on_both waits

echo
echo "### dispatch: scheduler reads, query plans and server memory, 100,000 workflows in the store"
target/release/duro-bench dispatch --postgres "$DATABASE_URL"
