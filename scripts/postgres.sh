#!/usr/bin/env bash
# start_throwaway_postgres [fsync]: starts a private PostgreSQL cluster on a
# free loopback port, exports DATABASE_URL for it, and removes it when the
# calling script exits (it takes the EXIT trap). PostgreSQL refuses to run as
# root, so under root the cluster belongs to the `postgres` user. The cluster
# runs with fsync=off (the tests' default: fast, and a throwaway cluster need
# not survive a crash of the machine); with the argument `fsync` it runs with
# fsync=on, as the benchmarks need (synchronous_commit is on either way).

start_throwaway_postgres() {
    local fsync=off
    case "${1:-}" in
        "") ;;
        fsync) fsync=on ;;
        *) echo "start_throwaway_postgres: unknown argument $1 (expected: fsync)" >&2; return 1 ;;
    esac
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$bin" ]; then
        echo "PostgreSQL binaries not found; installing them" >&2
        apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    local run=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        run=(runuser -u postgres --)
    fi
    PG_DIR=$(mktemp -d /tmp/duro-pg.XXXXXX)
    PG_STOP=(true)
    trap 'stop_throwaway_postgres' EXIT
    chmod 755 "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=200" start >/dev/null
    PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "throwaway PostgreSQL at $DATABASE_URL (fsync=$fsync)" >&2
}

stop_throwaway_postgres() {
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
