#!/usr/bin/env bash
# Creates ./.venv with posedy installed in editable mode plus the dev extra, once.
# Re-installs when setup.cfg, setup.py or pyproject.toml change (the stamp holds their checksum).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.posedy-setup-stamp
want=$(sha256sum setup.cfg setup.py pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup] creating .venv and installing posedy[dev] (about 2 minutes the first time)" >&2
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c "import posedy, torch, cv2, pycocotools, albumentations, yaml, tqdm" \
  || { echo "[setup] install failed: see the pip output above" >&2; exit 1; }
echo "$want" > "$stamp"
