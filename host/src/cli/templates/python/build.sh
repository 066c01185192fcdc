#!/bin/sh
# Builds {{name}}.wasm, the workflow component, from src/app.py:
# componentize-py bundles it with CPython and duro's Python SDK against
# wit/workflow.wit. componentize-py comes from .venv/ if there is one, else
# from PATH.
set -eu
cd "$(dirname "$0")"
sdk={{sdk_python}}
PATH="$PWD/.venv/bin:$PATH"
componentize-py -d wit/workflow.wit -w workflow componentize -p src -p "$sdk" app -o {{name}}.wasm
echo "built {{name}}.wasm"
