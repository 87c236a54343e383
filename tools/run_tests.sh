#!/usr/bin/env bash
# The test command: creates the environment if needed, then runs the whole suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
exec .venv/bin/python -m pytest -q "$@"
