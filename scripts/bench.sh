#!/usr/bin/env bash
# duro's benchmarks, in release mode (the first build takes several minutes),
# and DBOS Transact's on the same workloads. Stdout is Markdown, sections of
# tables to paste into bench/README.md; progress and warnings go to stderr.
# PostgreSQL rows use the server at DATABASE_URL (each run on a database of
# its own there, dropped afterwards) or start a throwaway cluster with
# fsync=on. The e2e and DBOS figures are also kept as JSON lines under
# target/bench/<time>/ (duro.jsonl, dbos.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/postgres.sh

cargo build --locked --release -p duro-host -p duro-bench -p shop-service
cargo build --locked --release --target wasm32-wasip2 \
    -p hello -p countdown -p order-saga -p waiter -p echo -p steps -p shapes
# The Python component of the instantiation and cold-start rows; without
# Python (or PyPI) those rows say they were skipped. A process of its own, so
# that `set -e` holds inside build_python.
PYTHON_WASM=target/wasm32-wasip2/release/std_clock_py.wasm
if ! bash -c 'source scripts/setup.sh && build_python' >&2; then
    echo "warning: the Python workflows could not be built; the Python rows are skipped" >&2
fi
[ -n "${DATABASE_URL:-}" ] || start_throwaway_postgres fsync

RESULTS=target/bench/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
DURO_JSON=$RESULTS/duro.jsonl
DBOS_JSON=$RESULTS/dbos.jsonl
: >"$DURO_JSON"
: >"$DBOS_JSON"
bench=target/release/duro-bench

# The commit measured: `-dirty` when the working tree differs from it
# (tracked changes or untracked files); reads only, never writes the index.
commit_measured() {
    local commit
    commit=$(git rev-parse --short HEAD)
    if ! git --no-optional-locks diff --quiet HEAD -- || [ -n "$(git ls-files --others --exclude-standard)" ]; then
        commit="$commit-dirty"
    fi
    echo "$commit"
}

pg_show() {
    psql -Atc "SHOW $1" "$DATABASE_URL"
}

echo "### machine"
echo "| what | value |"
echo "| --- | --- |"
echo "| cores | $(nproc) |"
echo "| memory | $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
echo "| CPU | $(grep -m 1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |"
echo "| PostgreSQL | $(pg_show server_version) |"
echo "| fsync | $(pg_show fsync) |"
echo "| synchronous_commit | $(pg_show synchronous_commit) |"
echo "| SQLite | WAL, synchronous=FULL (duro's settings) |"
echo "| commit | $(commit_measured) |"
echo "| date | $(date -u +%Y-%m-%d) |"
if [ "$(pg_show fsync)" != on ]; then
    echo
    echo "**Warning: this PostgreSQL runs with fsync off; its rows flatter it.**"
fi

# Runs `duro-bench ARGS` on a database of its own on the PostgreSQL server,
# dropped afterwards.
on_postgres() {
    local bench_db="duro_bench_$$"
    psql -q "$DATABASE_URL" -c "CREATE DATABASE $bench_db"
    "$bench" "$@" --database "${DATABASE_URL%/*}/$bench_db"
    psql -q "$DATABASE_URL" -c "DROP DATABASE $bench_db WITH (FORCE)"
}

# Runs `duro-bench ARGS` on SQLite, then as `on_postgres` does.
on_both() {
    "$bench" "$@"
    on_postgres "$@"
}

# DBOS runs when Python and bench/dbos/run.sh are there; the first failure
# (no PyPI, say) turns it off for the rest of the run.
DBOS=yes
if ! command -v python3 >/dev/null; then
    DBOS="skipped: python3 is missing"
elif [ ! -x bench/dbos/run.sh ]; then
    DBOS="skipped: bench/dbos/run.sh is missing"
fi

# Runs DBOS's side of one point, W workflows of K steps with C in flight, on
# a database of its own (DBOS's system database: its only one), dropped
# afterwards; appends its JSON line to $DBOS_JSON.
on_dbos() {
    [ "$DBOS" = yes ] || return 0
    local workflows=$1 steps=$2 in_flight=$3 line status=0
    local dbos_db="duro_dbos_$$"
    psql -q "$DATABASE_URL" -c "CREATE DATABASE $dbos_db"
    line=$(bench/dbos/run.sh --database-url "${DATABASE_URL%/*}/$dbos_db" \
        --workflows "$workflows" --steps "$steps" --concurrency "$in_flight") || status=$?
    psql -q "$DATABASE_URL" -c "DROP DATABASE $dbos_db WITH (FORCE)"
    if [ "$status" != 0 ]; then
        DBOS="skipped: bench/dbos/run.sh failed (exit $status; its output is above on stderr)"
        echo "warning: DBOS $DBOS" >&2
        return 0
    fi
    echo "$line" >>"$DBOS_JSON"
}

# Workflows per point of the steps workload: a few seconds each for duro.
steps_workflows() {
    local steps=$1 in_flight=$2
    case "$steps/$in_flight" in
        1/1) echo 1000 ;;
        1/*) echo 5000 ;;
        10/1) echo 500 ;;
        10/*) echo 2000 ;;
        *) echo 300 ;;
    esac
}

e2e_header() {
    echo "| backend | hosts | workflow | workflows | in flight | throughput | steps | p50 start→result | p99 | runs ended per host | CPU per workflow (ms) | cores busy |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
}

echo
echo "### executor (in process)"
echo "| step | time |"
echo "| --- | --- |"
"$bench" executor

echo
echo "### instantiation: one run of a workflow that returns at once (in process, no database)"
echo "Each figure is instantiation (a fresh instance from the pooled, pre-linked component) plus that run's calls, and \`run\` returning."
echo
echo "| workflow | runs | p50 per run | mean per run | journaled calls per run |"
echo "| --- | --- | --- | --- | --- |"
"$bench" instantiate --python "$PYTHON_WASM"

echo
echo "### replay of a 10,000-entry journal (in process, no database)"
echo "| what | time | rate |"
echo "| --- | --- | --- |"
"$bench" replay --entries 10000

echo
echo "### steps: workflows of K durable steps (each a call of the echo activity), duro serve"
e2e_header
for steps in 1 10; do
    for in_flight in 1 16 256; do
        workflows=$(steps_workflows "$steps" "$in_flight")
        on_both e2e --steps "$steps" --concurrency "$in_flight" --workflows "$workflows" --json "$DURO_JSON"
        on_dbos "$workflows" "$steps" "$in_flight"
    done
done

echo
echo "### latency: 5-step workflows, one at a time, duro serve"
e2e_header
on_both e2e --steps 5 --concurrency 1 --workflows 300 --json "$DURO_JSON"
on_dbos 300 5 1

echo
echo "### duro and DBOS Transact on the same PostgreSQL"
if [ "$DBOS" = yes ]; then
    echo "DBOS Transact $(head -n 1 "$DBOS_JSON" | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p') (bench/dbos), each run on a fresh database of its own; the same workflows and in-flight counts as duro's rows above. Ratio above 1: duro is faster in a throughput row; below 1: duro is faster in a latency row."
    echo
    "$bench" compare --duro "$DURO_JSON" --dbos "$DBOS_JSON"
else
    echo "DBOS $DBOS."
fi

echo
echo "### steps on one and two duro serve sharing one PostgreSQL database"
e2e_header
for steps in 1 10; do
    for hosts in 1 2; do
        on_postgres e2e --hosts "$hosts" --steps "$steps" --concurrency 16 --workflows "$(steps_workflows "$steps" 16)"
    done
done

echo
echo "### resume after kill -9: a workflow with a 10,000-entry journal waiting for a signal"
echo "Signal POST → result on a restarted duro serve (component already loaded), against a workflow with a 1-entry journal."
echo
echo "| backend | workflow | resumed | p50 signal → result | range | compile cache hits |"
echo "| --- | --- | --- | --- | --- | --- |"
on_both resume --entries 10000 --rounds 5

echo
echo "### memory: 10,000 sleeping workflows, and per running workflow"
echo "| backend | what | state | memory |"
echo "| --- | --- | --- | --- |"
on_both memory --sleeping 10000 --running 256

echo
echo "### cold start: a new component's upload and first run, compiled and from the disk cache (SQLite)"
echo "| component | process | POST /v1/components | first workflow start → result | compile cache |"
echo "| --- | --- | --- | --- | --- |"
"$bench" cold-start --python "$PYTHON_WASM"

echo
echo "### end to end: hello workflows through duro serve"
e2e_header
on_both e2e

echo
echo "### end to end, many hosts: hello workflows through 1 and 2 duro serve on one PostgreSQL database"
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

echo
echo "JSON lines of the e2e and DBOS runs: $RESULTS" >&2
