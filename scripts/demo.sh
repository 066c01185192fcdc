#!/usr/bin/env bash
# The main job: builds duro and the examples, starts `duro serve` on SQLite,
# runs the countdown workflow, kills the server with SIGKILL while the
# workflow sleeps, restarts it, and prints the completed result, the journal
# and the log. Each step of the journal appears once: the steps journaled
# before the crash were replayed, not run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

build_all
port=${DURO_DEMO_PORT:-7070}
work=.duro-demo
rm -rf "$work" && mkdir -p "$work"
export DURO_SERVER="http://127.0.0.1:$port"
duro=target/debug/duro
server_pid=""

start_server() {
    "$duro" serve --listen "127.0.0.1:$port" --database "sqlite://$work/duro.db" >>"$work/serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 200); do
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; echo "duro serve exited" >&2; exit 1; }
        "$duro" component list >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "duro serve did not come up; see $work/serve.log" >&2
    exit 1
}
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; true' EXIT

echo "== starting duro serve on sqlite://$work/duro.db"
start_server
"$duro" component push target/wasm32-wasip2/release/countdown.wasm --name countdown
"$duro" workflow start countdown --id countdown-demo --input '{"n":3,"seconds":2}'

echo "== waiting for the second timer (tick 1 done), then kill -9"
for attempt in $(seq 1 300); do
    [ "$("$duro" --json workflow journal countdown-demo | grep -c '"seq"')" -ge 3 ] && break
    [ "$attempt" = 300 ] && { echo "the countdown did not reach its second timer; see $work/serve.log" >&2; exit 1; }
    sleep 0.1
done
"$duro" workflow get countdown-demo | grep -E '^(status|wake_at)'
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
echo "== killed duro serve (pid $server_pid) with SIGKILL; restarting"
start_server

echo "== result"
"$duro" workflow result countdown-demo --wait 60
echo "== journal"
"$duro" workflow journal countdown-demo
echo "== log"
"$duro" workflow logs countdown-demo
