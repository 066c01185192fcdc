#!/usr/bin/env bash
# Installs what building duro needs on a fresh machine: the wasm32-wasip2
# target for workflow components, rustfmt and clippy for the test command's
# checks, and (in build_js and build_python) componentize-js and
# componentize-py for the JavaScript and Python workflows. Sourced by the
# other scripts.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
        rustup component add "$component"
    fi
done

# Builds the duro binary (debug), the example components and the test
# workflow (release: small and fast to compile in the host).
build_all() {
    cargo build --locked -p duro-host -p shop-service
    cargo build --locked --release --target wasm32-wasip2 -p hello -p countdown -p order-saga -p fetch-json -p misbehave -p hostile -p legacy-v0-1 -p probe-activity -p activity-caller -p approval -p fan-out -p waiter -p waiter-v2
    build_js
    build_python
}

# Builds the JavaScript workflows with componentize-js (what `jco
# componentize` runs, with its default features), installed from the npm
# registry at the versions guest-sdk/js/package-lock.json pins (the SDK's
# build tools: componentize-js and esbuild), into target/js-toolchain
# (`npm install` there, not `npm ci`: npm 11 refuses this lock file in `ci`
# over optional platform packages it leaves out). The plain `fetch` test
# workflow uses componentize-js alone; the SDK's, `<dir>/<name>.js` for
# each `<name>-js` directory, go through the SDK's build.mjs (esbuild, then
# componentize-js) to `<name>_js.wasm`. Each is rebuilt only when its
# source, the SDK, the WIT or the lock file changed.
build_js() {
    local tools=target/js-toolchain
    local sdk=guest-sdk/js
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        echo "building the JavaScript workflows needs Node.js 18 or later with npm" >&2
        return 1
    fi
    if ! cmp -s "$sdk/package-lock.json" "$tools/installed-lock.json"; then
        mkdir -p "$tools"
        cp "$sdk/package.json" "$sdk/package-lock.json" "$tools/"
        (cd "$tools" && npm install --no-audit --no-fund --loglevel=error)
        cp "$sdk/package-lock.json" "$tools/installed-lock.json"
    fi
    cp tests/workflows/fetch-js/build.mjs "$tools/componentize.mjs"
    cp "$sdk/build.mjs" "$tools/build.mjs"
    local fetch=tests/workflows/fetch-js
    if stale target/wasm32-wasip2/release/fetch_js.wasm "$fetch" "$sdk/package-lock.json"; then
        node "$tools/componentize.mjs" "$fetch/workflow.js" wit/workflow.wit workflow target/wasm32-wasip2/release/fetch_js.wasm
    fi
    local dir name out
    for dir in examples/*-js tests/workflows/*-js; do
        name=$(basename "$dir" -js)
        name=${name//-/_}
        [ -f "$dir/$name.js" ] || continue
        out=target/wasm32-wasip2/release/${name}_js.wasm
        if stale "$out" "$dir" "$sdk/src" "$sdk/build.mjs" "$sdk/package-lock.json"; then
            node "$tools/build.mjs" "$dir/$name.js" "$out" wit/workflow.wit
        fi
    done
}

# Builds the Python workflows, `<dir>/<name>.py` for each `<name>-py`
# directory, to `<name>_py.wasm` with componentize-py, installed from PyPI
# at the version guest-sdk/python/requirements.txt pins into a virtual
# environment under target/py-toolchain. componentize-py generates the
# `wit_world` bindings the SDK (guest-sdk/python/duro_sdk) calls from the
# WIT at each build. Each is rebuilt only when its source, the SDK, the
# WIT or the pin changed.
build_python() {
    local tools=target/py-toolchain
    local sdk=guest-sdk/python
    install_venv "$tools/venv" "$sdk/requirements.txt" "building the Python workflows"
    local dir name out
    for dir in examples/*-py tests/workflows/*-py; do
        name=$(basename "$dir" -py)
        name=${name//-/_}
        [ -f "$dir/$name.py" ] || continue
        out=target/wasm32-wasip2/release/${name}_py.wasm
        if stale "$out" "$dir" "$sdk/duro_sdk" "$sdk/requirements.txt"; then
            "$tools/venv/bin/componentize-py" --quiet -d wit/workflow.wit -w workflow \
                componentize -p "$dir" -p "$sdk" "$name" -o "$out"
        fi
    done
}

# Installs schemathesis, which tests/openapi.rs runs against a live `duro
# serve` and its OpenAPI document, from PyPI at the versions
# scripts/schemathesis-requirements.txt pins, into target/schemathesis-venv.
# The test finds target/schemathesis-venv/bin/st by itself, or the binary
# DURO_SCHEMATHESIS names.
install_schemathesis() {
    install_venv target/schemathesis-venv scripts/schemathesis-requirements.txt "the OpenAPI test"
}

# Installs what tests/console.rs drives the web console with: Debian's
# Chromium (package chromium, unless a `chromium` is on the PATH already)
# and Playwright for Python, from PyPI at the versions
# scripts/browser-requirements.txt pins, into target/browser-venv.
# Playwright drives that Chromium; it downloads no browser of its own.
install_browser_tests() {
    if ! command -v chromium >/dev/null; then
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        export DEBIAN_FRONTEND=noninteractive
        if ! "${sudo[@]}" apt-get install -y chromium; then
            "${sudo[@]}" apt-get update
            "${sudo[@]}" apt-get install -y chromium
        fi
    fi
    install_venv target/browser-venv scripts/browser-requirements.txt "the console's browser test"
}

# Makes a Python virtual environment at VENV with the packages the file PINS
# pins, unless one was made from the same pins already (it is made anew
# when they change). WHAT names what needs it, for the error without Python.
install_venv() {
    local venv=$1 pins=$2 what=$3
    if cmp -s "$pins" "$venv/installed-requirements.txt"; then
        return
    fi
    if ! command -v python3 >/dev/null; then
        echo "$what needs Python 3.10 or later" >&2
        return 1
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
    cp "$pins" "$venv/installed-requirements.txt"
}

# Whether OUT is missing or older than any file under the given paths or
# wit/ (Python's bytecode caches, which componentize-py writes, aside).
stale() {
    local out=$1
    shift
    [ ! -f "$out" ] || [ -n "$(find "$@" wit -newer "$out" -not -path '*/__pycache__*' -print -quit)" ]
}
