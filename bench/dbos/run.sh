#!/usr/bin/env bash
# Runs bench_dbos.py, the DBOS Transact side of duro's benchmark, with its
# arguments, e.g.
#
#   bench/dbos/run.sh --database-url postgres://postgres@127.0.0.1:5432/bench_dbos \
#       --workflows 2000 --steps 10 --concurrency 16
#
# DBOS is installed from PyPI at the versions bench/dbos/requirements.txt
# pins, into a virtual environment under target/dbos-venv; it is rebuilt only
# when the pins change (a copy of the requirements it was built from is kept
# in it as installed-requirements.txt). Needs Python 3.10 or later with venv
# and pip (PYTHON picks the interpreter; python3 by default). The one line of
# JSON bench_dbos.py prints is the only output on stdout; pip's and DBOS's go
# to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$root/target/dbos-venv
python=${PYTHON:-python3}

if ! cmp -s "$here/requirements.txt" "$venv/installed-requirements.txt"; then
    if ! command -v "$python" >/dev/null; then
        echo "the DBOS benchmark needs Python 3.10 or later ($python not found)" >&2
        exit 1
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        echo "the DBOS benchmark needs Python 3.10 or later ($python is $("$python" --version 2>&1))" >&2
        exit 1
    fi
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$venv/installed-requirements.txt"
fi

exec "$venv/bin/python" "$here/bench_dbos.py" "$@"
