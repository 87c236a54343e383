#!/usr/bin/env bash
# Is the demo's dynamic model dynamic? The studies behind docs/training.md "Is the model dynamic?".
#
#   bash tools/dynamic_study.sh tau   [OUT]   temperature ablation at demo scale, seed 0: tau = 1
#                                             constant, tau = 30 constant, the demo's recipe, and
#                                             the static twin (about 30 min on 2 cores)
#   bash tools/dynamic_study.sh seeds [OUT]   the demo's dynamic and static configs, seeds 0, 1, 2
#                                             (about 45 min on 2 cores)
#
# Every run trains the demo config (experiments/synthetic) with --opts, two at a time, one core
# each, as tools/demo.sh does; dynamic runs are then inspected (tools/inspect_attention.py, Table 3
# on the val set with ground-truth boxes) and tools/attention_report.py writes OUT/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
PY=.venv/bin/python
study=${1:?usage: tools/dynamic_study.sh tau|seeds [OUT]}
OUT=${2:-work_dirs/dynamic_study/$study}
DY=experiments/synthetic/mbv2-x0.5_dy4_typeB-w0.25_128x96_adam_lr4e-3_e22.yaml
ST=experiments/synthetic/mbv2-x0.5_static_typeB-w0.25_128x96_adam_lr4e-3_e22.yaml
export OMP_NUM_THREADS=1
if [ ! -f data/synthetic_coco/annotations/person_keypoints_val2017.json ]; then
  $PY tools/make_synthetic_coco.py --out data/synthetic_coco --seed 0
fi

runs=()   # "name|config|opts..."
case $study in
  tau)
    runs=("tau1-constant|$DY|model.temperature=1.0 train.tau_schedule=constant"
          "tau30-constant|$DY|model.temperature=30.0 train.tau_schedule=constant"
          "demo-recipe|$DY|"
          "static|$ST|") ;;
  seeds)
    for seed in 0 1 2; do
      runs+=("dynamic_s$seed|$DY|train.seed=$seed" "static_s$seed|$ST|train.seed=$seed")
    done ;;
  *) echo "error: study must be 'tau' or 'seeds', got '$study'" >&2; exit 2 ;;
esac

one() {  # one NAME CONFIG OPTS: train, then inspect a dynamic run
  local name=$1 cfg=$2 opts=$3 dir=$OUT/$1
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  $PY tools/train.py "$cfg" --work-dir "$dir" --resume auto ${opts:+--opts $opts} > "$dir/train.log" 2>&1
  if grep -q "dynamic: true" "$cfg"; then
    # shellcheck disable=SC2086
    $PY tools/inspect_attention.py "$cfg" --checkpoint "$dir/last.pth" --work-dir "$dir/inspect" --skip-table4 \
      ${opts:+--opts $opts} > "$dir/inspect.log" 2>&1
  fi
}

i=0
while [ $i -lt ${#runs[@]} ]; do
  pids=()
  for j in 0 1; do
    [ $((i + j)) -lt ${#runs[@]} ] || break
    IFS='|' read -r name cfg opts <<< "${runs[$((i + j))]}"
    echo "   $study: $name (log: $OUT/$name/train.log)"
    one "$name" "$cfg" "$opts" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  i=$((i + 2))
done

names=()
for r in "${runs[@]}"; do names+=("$OUT/${r%%|*}"); done
extra=()
[ "$study" = seeds ] && extra=(--spread)
$PY tools/attention_report.py "${names[@]}" "${extra[@]}" --markdown "$OUT/report.md" \
  --title "tools/dynamic_study.sh $study on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(getconf _NPROCESSORS_ONLN) cores, $(date -u +%Y-%m-%d)"
