#!/usr/bin/env bash
# Is the demo's dynamic model dynamic? The study behind docs/training.md "Is the model dynamic?".
#
#   bash tools/dynamic_study.sh [OUT]      (default OUT: work_dirs/dynamic_study)
#   SEEDS="0 1 2 3 4" bash tools/dynamic_study.sh    (more seeds; default "0 1 2")
#   EXTRA_OPTS="train.channels_last=true" bash tools/dynamic_study.sh OUT
#                                                    (every run with these --opts as well)
#
# Trains the demo configs (experiments/synthetic) with --opts, two runs at a time, one core each,
# as tools/demo.sh does:
#   - a temperature ablation at demo scale, seed 0: tau = 1 constant and tau = 30 constant (the
#     paper's pose setting), both with the demo's attention learning rate, beside the demo's
#     annealed 30 -> 1 (the dynamic_s0 row);
#   - the demo's dynamic and static configs with seeds 0, 1 and 2, or $SEEDS (the seed spread).
# Every run's last.pth is then scored on the val set with ground-truth boxes (tools/test.py
# --gt-boxes, flip test: the AP column), dynamic runs are inspected (tools/inspect_attention.py:
# Table 3 on the same crops) and tools/attention_report.py writes OUT/report.md with the seed
# spread and the per-seed lead of the dynamic model over its static twin. A run whose dir already
# holds a finished training is not trained again (--resume auto), so S0_FROM=DEMO_OUT reuses the
# demo's two runs as the seed-0 rows (same configs and seed: the same weights bit for bit).
# About 13 minutes per pair of runs on 2 cores, 4 pairs (3 with S0_FROM), one more per extra seed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
PY=.venv/bin/python
OUT=${1:-work_dirs/dynamic_study}
DY=experiments/synthetic/mbv2-x0.5_dy4_typeB-w0.25_128x96_adam_lr4e-3_e22.yaml
ST=experiments/synthetic/mbv2-x0.5_static_typeB-w0.25_128x96_adam_lr4e-3_e22.yaml
export OMP_NUM_THREADS=1
# The demo's dataset, generated again whenever its stamp is stale (as tools/demo.sh does).
$PY tools/make_synthetic_coco.py --out data/synthetic_coco --seed 0 --if-stale --overwrite

X=${EXTRA_OPTS:+ $EXTRA_OPTS}
runs=("tau1-constant|$DY|model.temperature=1.0 train.tau_schedule=constant$X"
      "tau30-constant|$DY|model.temperature=30.0 train.tau_schedule=constant$X")
for seed in ${SEEDS:-0 1 2}; do
  runs+=("dynamic_s$seed|$DY|train.seed=$seed$X" "static_s$seed|$ST|train.seed=$seed$X")
done
mkdir -p "$OUT"
if [ -n "${S0_FROM:-}" ]; then  # the demo's runs as the seed-0 rows
  for pair in "dynamic_s0:$(basename "$DY" .yaml)" "static_s0:$(basename "$ST" .yaml)"; do
    [ -d "$OUT/${pair%%:*}" ] || cp -r "$S0_FROM/${pair#*:}" "$OUT/${pair%%:*}"
  done
fi

one() {  # one NAME CONFIG OPTS: train, evaluate last.pth on the val set, inspect a dynamic run
  local name=$1 cfg=$2 opts=$3 dir=$OUT/$1
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  # A dir that already holds this run's training is reused as trained (its stored config), so
  # the study can be rescored on a new val set without training again; delete OUT to retrain.
  $PY tools/train.py "$cfg" --work-dir "$dir" --resume auto --resume-config checkpoint ${opts:+--opts $opts} \
    >> "$dir/train.log" 2>&1
  # Evaluated again on every call (not cached): a reused run is then scored on today's val set.
  # shellcheck disable=SC2086
  $PY tools/test.py "$cfg" --checkpoint "$dir/last.pth" --gt-boxes --work-dir "$dir/val_gt" --no-progress --overwrite \
    ${opts:+--opts $opts} > "$dir/val_gt.log" 2>&1
  if grep -q "dynamic: true" "$cfg"; then
    # shellcheck disable=SC2086
    $PY tools/inspect_attention.py "$cfg" --checkpoint "$dir/last.pth" --work-dir "$dir/inspect" --skip-table4 --overwrite \
      ${opts:+--opts $opts} > "$dir/inspect.log" 2>&1
  fi
}

i=0
while [ $i -lt ${#runs[@]} ]; do
  pids=()
  for j in 0 1; do
    [ $((i + j)) -lt ${#runs[@]} ] || break
    IFS='|' read -r name cfg opts <<< "${runs[$((i + j))]}"
    echo "   $name (log: $OUT/$name/train.log)"
    one "$name" "$cfg" "$opts" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  i=$((i + 2))
done

names=()
for r in "${runs[@]}"; do names+=("$OUT/${r%%|*}"); done
$PY tools/attention_report.py "${names[@]}" --spread --ap-from val_gt --markdown "$OUT/report.md" \
  --title "tools/dynamic_study.sh on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(getconf _NPROCESSORS_ONLN) cores, $(date -u +%Y-%m-%d)"
