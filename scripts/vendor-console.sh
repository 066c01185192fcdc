#!/usr/bin/env bash
# Refreshes the web console's third-party files in host/console/vendor from
# the npm registry: Preact (MIT) with its hooks, and htm (Apache-2.0), at
# the versions below. `npm pack` checks each tarball against the registry's
# integrity hash. The hooks module imports the bare specifier "preact",
# which a browser resolves only through an import map (an inline script,
# which the console's Content-Security-Policy forbids); it is rewritten to
# the relative file. Run by hand when upgrading; the files are committed, so
# that building duro needs no npm.
set -euo pipefail
cd "$(dirname "$0")/.."

PREACT=11.2.0
HTM=3.1.1

vendor=host/console/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "preact@$PREACT" "htm@$HTM" >/dev/null)
tar xzf "$work/preact-$PREACT.tgz" -C "$work" && mv "$work/package" "$work/preact"
tar xzf "$work/htm-$HTM.tgz" -C "$work" && mv "$work/package" "$work/htm"

mkdir -p "$vendor"
cp "$work/preact/dist/preact.mjs" "$vendor/preact.mjs"
sed -e 's/from"preact"/from".\/preact.mjs"/' -e '/sourceMappingURL/d' \
    "$work/preact/hooks/dist/hooks.mjs" > "$vendor/hooks.mjs"
sed -i '/sourceMappingURL/d' "$vendor/preact.mjs"
cp "$work/htm/dist/htm.mjs" "$vendor/htm.mjs"
cp "$work/preact/LICENSE" "$vendor/LICENSE-preact"
cp "$work/htm/LICENSE" "$vendor/LICENSE-htm"
cat > "$vendor/README.md" <<NOTE
Third-party files of the web console, written by scripts/vendor-console.sh:
preact $PREACT (preact.mjs, hooks.mjs; MIT, LICENSE-preact) and htm $HTM
(htm.mjs; Apache-2.0, LICENSE-htm), from the npm registry. Do not edit.
NOTE
grep -q 'from"./preact.mjs"' "$vendor/hooks.mjs" || { echo "hooks.mjs no longer imports preact as expected" >&2; exit 1; }
echo "vendored preact $PREACT and htm $HTM into $vendor"
