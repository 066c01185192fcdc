#!/usr/bin/env bash
# Installs what building duro needs on a fresh machine: the wasm32-wasip2
# target for workflow components, rustfmt and clippy for the test command's
# checks, and (in build_js) componentize-js for the JavaScript test
# workflow. Sourced by the other scripts.
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
}

# Builds the JavaScript test workflow with componentize-js (what `jco
# componentize` runs, with its default features), installed from the npm
# registry at the versions package-lock.json pins, into target/js-toolchain
# (`npm install` there, not `npm ci`: npm 11 refuses this lock file in `ci`
# over optional platform packages it leaves out). Rebuilt only when its
# source, the WIT or the lock file changed.
build_js() {
    local dir=tests/workflows/fetch-js
    local tools=target/js-toolchain
    local out=target/wasm32-wasip2/release/fetch_js.wasm
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        echo "building $dir needs Node.js 18 or later with npm" >&2
        return 1
    fi
    if ! cmp -s "$dir/package-lock.json" "$tools/installed-lock.json"; then
        mkdir -p "$tools"
        cp "$dir/package.json" "$dir/package-lock.json" "$tools/"
        (cd "$tools" && npm install --no-audit --no-fund --loglevel=error)
        cp "$dir/package-lock.json" "$tools/installed-lock.json"
    fi
    cp "$dir/build.mjs" "$tools/build.mjs"
    if [ -f "$out" ] && [ -z "$(find "$dir/workflow.js" "$dir/build.mjs" "$dir/package-lock.json" wit -newer "$out" -print -quit)" ]; then
        return
    fi
    mkdir -p "$(dirname "$out")"
    node "$tools/build.mjs" "$dir/workflow.js" wit/workflow.wit workflow "$out"
}
