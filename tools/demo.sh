#!/usr/bin/env bash
# The main job, end to end on the embedded default (a generated COCO-format dataset):
# set up the environment, print every paper experiment's complexity, generate the synthetic
# dataset, train the dynamic and static demo models, evaluate them with detection boxes
# (flip test, OKS-NMS, COCO AP), draw keypoint pictures, and print a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
PY=.venv/bin/python
OUT=${POSEDY_DEMO_OUT:-work_dirs/demo}
DATA=data/synthetic_coco
mkdir -p "$OUT"

echo "== complexity of every paper experiment (experiments/coco, 256x192) =="
for cfg in experiments/coco/*.yaml; do
  $PY tools/complexity.py "$cfg" --brief
done

if [ ! -f "$DATA/annotations/person_keypoints_val2017.json" ]; then
  echo "== generating the synthetic COCO-format dataset in $DATA =="
  $PY tools/make_synthetic_coco.py --out "$DATA" --seed 0
fi

for cfg in experiments/synthetic/*.yaml; do
  name=$(basename "$cfg" .yaml)
  echo "== training $name =="
  $PY tools/train.py "$cfg" --work-dir "$OUT/$name" --resume auto
  echo "== testing $name with detection boxes =="
  $PY tools/test.py "$cfg" --checkpoint "$OUT/$name/best.pth" --work-dir "$OUT/$name/test"
  $PY tools/visualize.py --results "$OUT/$name/test/results.json" \
    --ann "$DATA/annotations/person_keypoints_val2017.json" --images "$DATA/images/val2017" \
    --out "$OUT/$name/vis" --with-gt --max-images 6
done

$PY tools/summarize_demo.py "$OUT" experiments/synthetic/*.yaml
