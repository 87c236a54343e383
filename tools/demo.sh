#!/usr/bin/env bash
# The main job, end to end on the embedded default (a generated COCO-format dataset):
# set up the environment, print every paper experiment's complexity, generate the synthetic
# dataset, train the dynamic and static demo models (side by side, one core each), evaluate
# them with detection boxes (flip test, OKS-NMS, COCO AP), draw keypoint pictures, and print a
# summary table. About 15 minutes on 2 CPU cores after installation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
SETUP_S=$SECONDS
PY=.venv/bin/python
OUT=${POSEDY_DEMO_OUT:-work_dirs/demo}
DATA=data/synthetic_coco
CONFIGS=(experiments/synthetic/*.yaml)
# One intra-op thread per process: the two models train at once, one per core, which on a
# 2-core machine beats two threads each (OpenMP threads spin while the other job runs).
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
# Each step's header says when it started, so a slow run shows where its time went.
since_setup() { echo "[$(( (SECONDS - SETUP_S) / 60 )):$(printf %02d $(( (SECONDS - SETUP_S) % 60 )))]"; }

echo "$(since_setup) == complexity of every paper experiment (experiments/coco, 256x192) =="
$PY tools/complexity.py experiments/coco/*.yaml --brief

echo "$(since_setup) == the synthetic COCO-format dataset in $DATA (generated again whenever its stamp is stale) =="
# $DATA is the demo's own generated folder (git-ignored): a copy without a stamp (made by an older
# posedy) is replaced too.
$PY tools/make_synthetic_coco.py --out "$DATA" --seed 0 --if-stale --overwrite

wait_job() {  # wait_job PID WHAT LOG: wait for a background step; if it failed, say so with its log's tail
  if ! wait "$1"; then
    echo "error: $2 failed; last lines of $3:" >&2
    tail -n 5 "$3" >&2
    return 1
  fi
}

run_both() {  # run_both STEP COMMAND...: the command for each config at once, logs per config
  local step=$1; shift
  local pids=() cfg name
  for cfg in "${CONFIGS[@]}"; do
    name=$(basename "$cfg" .yaml)
    mkdir -p "$OUT/$name"
    echo "   $step $name (log: $OUT/$name/$step.log)"
    "$@" "$cfg" "$OUT/$name" > "$OUT/$name/$step.log" 2>&1 &
    pids+=($!)
  done
  local failed=0 i=0
  for pid in "${pids[@]}"; do
    if ! wait "$pid"; then
      name=$(basename "${CONFIGS[$i]}" .yaml)
      echo "error: $step of $name failed; last lines of $OUT/$name/$step.log:" >&2
      tail -n 5 "$OUT/$name/$step.log" >&2
      failed=1
    fi
    i=$((i + 1))
  done
  return $failed
}

train_one() { $PY tools/train.py "$1" --work-dir "$2" --resume auto; }
test_one() {  # a rerun evaluates again and replaces the earlier results (--overwrite)
  local inspect_pid=""
  # Is the dynamic model dynamic? Table 3 on the val set (ground-truth boxes) and the attention
  # plot, on the second core beside the test (the static model has finished by then).
  if grep -q "dynamic: true" "$1"; then
    $PY tools/inspect_attention.py "$1" --checkpoint "$2/best.pth" --work-dir "$2/inspect" --skip-table4 \
      --overwrite > "$2/inspect.log" 2>&1 &
    inspect_pid=$!
  fi
  $PY tools/test.py "$1" --checkpoint "$2/best.pth" --work-dir "$2/test" --no-progress --overwrite
  $PY tools/visualize.py --results "$2/test/results.json" --ann "$DATA/annotations/person_keypoints_val2017.json" \
    --images "$DATA/images/val2017" --out "$2/vis" --with-gt --max-images 6
  if [ -n "$inspect_pid" ]; then
    wait_job "$inspect_pid" "the attention inspection" "$2/inspect.log" || return 1
  fi
}
# Each model is tested as soon as it is trained: the static one, faster, is done before the
# dynamic one finishes, which leaves the second core to the dynamic model's inspection.
train_then_test() {
  if ! train_one "$1" "$2" > "$2/train.log" 2>&1; then
    echo "error: training failed; last lines of $2/train.log:"
    tail -n 5 "$2/train.log"
    return 1
  fi
  test_one "$1" "$2"
  $PY tools/plot_curves.py "$2"  # metrics.jsonl -> curves.png, while the other model may still train
}

echo "$(since_setup) == training the demo models (about 13 minutes), each then tested with detection boxes =="
echo "   (training logs: $OUT/<experiment>/train.log)"
run_both test train_then_test
for cfg in "${CONFIGS[@]}"; do
  name=$(basename "$cfg" .yaml)
  echo "   pictures: $OUT/$name/vis"
  echo "   training curves: $OUT/$name/curves.png"
  [ -f "$OUT/$name/inspect/attention.png" ] && echo "   attention plot: $OUT/$name/inspect/attention.png"
done

echo "$(since_setup) == summary =="
dynamic_runs=()
for cfg in "${CONFIGS[@]}"; do
  grep -q "dynamic: true" "$cfg" && dynamic_runs+=("$OUT/$(basename "$cfg" .yaml)")
done
# The two reports at once (each mostly Python start-up), printed in order.
$PY tools/attention_report.py "${dynamic_runs[@]}" --markdown "$OUT/attention.md" \
  --title "Is the dynamic model dynamic? Table 3 of the paper on the demo's val set (GT boxes, flip test):" \
  > "$OUT/attention.log" 2>&1 &
report_pid=$!
$PY tools/summarize_demo.py "$OUT" "${CONFIGS[@]}" --markdown "$OUT/summary.md"
wait_job "$report_pid" "the attention report" "$OUT/attention.log" || exit 1
cat "$OUT/attention.log"
cat "$OUT/attention.md" >> "$OUT/summary.md"
# Wall time since set-up finished (bash's SECONDS counts from the script's start; set-up is
# subtracted so the figure is the demo itself, as the README quotes it).
echo "demo: $(( (SECONDS - SETUP_S) / 60 )) min $(( (SECONDS - SETUP_S) % 60 )) s after set-up" \
     "($(( SETUP_S )) s of set-up) on $(getconf _NPROCESSORS_ONLN) cores, $(date -u +%Y-%m-%d)" | tee -a "$OUT/summary.md"
