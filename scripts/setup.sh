#!/usr/bin/env bash
# Installs what building duro needs on a fresh machine: the wasm32-wasip2
# target for workflow components, and rustfmt and clippy for the test
# command's checks. Sourced by the other scripts.
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
    cargo build --locked --release --target wasm32-wasip2 -p hello -p countdown -p order-saga -p fetch-json -p misbehave -p hostile -p legacy-v0-1 -p probe-activity -p activity-caller
}
