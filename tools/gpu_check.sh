#!/usr/bin/env bash
# The GPU check, one command for the day a GPU is lent (under 10 minutes on one GPU):
#   bash tools/gpu_check.sh [OUT_DIR]      (default work_dirs/gpu_check)
# 1. tests/gpu: every DynamicConv2d path on CUDA against the CPU, AMP and channels_last training
#    steps, a 1-process NCCL DDP step with SyncBatchNorm, tools/test.py on CUDA;
# 2. training throughput: static and dynamic Type-B MobileNetV2 x0.5, batch 128, 256x192, AMP;
# 3. the projected time of the paper's 210-epoch COCO schedule (149,813 instances) on one GPU.
# Writes OUT_DIR/gpu_check.json (and the tests' log). On a CPU machine it still runs: the CUDA
# parts are skipped with a message, and the JSON says so. Exit status: non-zero if a GPU test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
OUT=${1:-work_dirs/gpu_check}
shift || true
mkdir -p "$OUT"
# Progress lines go to stderr; the full result, as text, to OUT/summary.txt.
$PY tools/benchmark.py gpu-check --out "$OUT" "$@" > "$OUT/summary.txt"
$PY - "$OUT/gpu_check.json" <<'PYEOF'
import json, sys
result = json.load(open(sys.argv[1]))
tests = result.get("gpu_tests")
if tests is not None and not tests["ok"]:
    print(f"gpu_check: tests/gpu failed (see {tests['log']})", file=sys.stderr)
    sys.exit(1)
print(f"gpu_check: done, {sys.argv[1]}")
PYEOF
