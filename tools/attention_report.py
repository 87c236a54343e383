"""Is the model dynamic? One Markdown table over trained runs: AP, the paper's Table 3 rows
and the mean attention entropy per input resolution.

    python tools/attention_report.py RUN_DIR [RUN_DIR ...] [--markdown FILE] [--title TEXT]

Each RUN_DIR is a training work dir with ``metrics.jsonl`` (its last validation gives the AP
with ground-truth boxes, or with ``--ap-from SUB`` the ``AP`` of ``RUN_DIR/SUB/metrics.json``
written by ``tools/test.py --gt-boxes`` on the run's checkpoint) and ``inspect/`` written by ``tools/inspect_attention.py``
(``aggregation_ap.json``, ``attention_stats.json``); a static run has no ``inspect/`` and gets
its AP alone. Used by ``tools/demo.sh`` and ``tools/dynamic_study.sh``.
"""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from posedy.engine.logging import last_validation_ap
from posedy.errors import tool_main
from posedy.evaluation.attention import entropy_by_resolution
from posedy.reports import publish


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_row(run: Path, ap_from: str | None = None) -> dict:
    """The report's numbers for one run dir (missing parts are None); ``ap_from``: the sub-folder
    whose ``metrics.json`` gives the AP instead of the training's last validation."""
    table3 = (_read_json(run / "inspect" / "aggregation_ap.json") or {}).get("table3") or {}
    stats = (_read_json(run / "inspect" / "attention_stats.json") or {}).get("layers")
    if ap_from:
        ap = (_read_json(run / ap_from / "metrics.json") or {}).get("AP")
    else:
        ap = last_validation_ap(run / "metrics.jsonl")
    return {"run": run.name, "AP": ap, "table3": table3,
            "by_resolution": entropy_by_resolution(stats) if stats else []}


def render(rows: list) -> str:
    """Markdown table; the entropy column lists mean entropy / log K per input resolution,
    highest resolution first (1 = flat attention, 0 = one kernel)."""
    modes = ("attention", "average", "max", "shuffle_kernels", "shuffle_images")
    header = ("run", "AP, GT boxes") + modes + ("attention - average", "attention - shuffled across images",
                                                 "entropy / log K by input resolution")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def fmt(v):
        return "-" if v is None else f"{v:.3f}"
    for r in rows:
        t3 = r["table3"]
        gap_avg = t3["attention"] - t3["average"] if {"attention", "average"} <= t3.keys() else None
        gap_shuf = (t3["attention"] - t3["shuffle_images"]) if {"attention", "shuffle_images"} <= t3.keys() else None
        res = ", ".join(f"{'x'.join(map(str, g['input_hw']))}: {g['entropy_norm']:.2f}" for g in r["by_resolution"])
        lines.append("| " + " | ".join([r["run"], fmt(r["AP"])] + [fmt(t3.get(m)) for m in modes]
                                      + [fmt(gap_avg), fmt(gap_shuf), res or "-"]) + " |")
    return "\n".join(lines) + "\n"


def _gaps(t3: dict):
    if {"attention", "average", "shuffle_images"} <= t3.keys():
        return t3["attention"] - t3["average"], t3["attention"] - t3["shuffle_images"]
    return None, None


def render_spread(rows: list) -> str:
    """Runs named ``<group>_s<seed>`` summarised per group: AP mean, sample standard deviation,
    range, and the mean Table 3 gaps."""
    groups = {}
    for r in rows:
        groups.setdefault(re.sub(r"_s\d+$", "", r["run"]), []).append(r)
    lines = ["| group | seeds | AP per seed | mean | std | min - max | attention - average | "
             "attention - shuffled |", "|---|---|---|---|---|---|---|---|"]
    for name, rs in groups.items():
        if len(rs) < 2:  # a single run has no spread
            continue
        aps = [r["AP"] for r in rs if r["AP"] is not None]
        gaps = [g for g in (_gaps(r["table3"]) for r in rs) if g[0] is not None]
        std = statistics.stdev(aps) if len(aps) > 1 else float("nan")
        mean_gap = (lambda i: f"{statistics.mean(g[i] for g in gaps):.3f}" if gaps else "-")
        lines.append(f"| {name} | {len(aps)} | {', '.join(f'{a:.3f}' for a in aps)} | "
                     f"{statistics.mean(aps):.3f} | {std:.3f} | {min(aps):.3f} - {max(aps):.3f} | "
                     f"{mean_gap(0)} | {mean_gap(1)} |")
    lines += _difference_rows({name: rs for name, rs in groups.items() if len(rs) > 1})
    return "\n".join(lines) + "\n"


def _difference_rows(groups: dict) -> list:
    """With exactly two groups of several seeds, trained on the same seeds: the first minus the second, per seed
    (is the lead larger than either group's seed-to-seed spread?)."""
    if len(groups) != 2:
        return []
    (name_a, runs_a), (name_b, runs_b) = groups.items()
    seed = (lambda r: re.search(r"_s(\d+)$", r["run"]).group(1))
    ap_a, ap_b = ({seed(r): r["AP"] for r in rs} for rs in (runs_a, runs_b))
    seeds = [s for s in ap_a if s in ap_b]
    if len(seeds) < 2 or len(seeds) != len(ap_a) or len(seeds) != len(ap_b):
        return []
    diffs = [ap_a[s] - ap_b[s] for s in seeds]
    return [f"| {name_a} - {name_b} | {len(diffs)} | {', '.join(f'{d:+.3f}' for d in diffs)} | "
            f"{statistics.mean(diffs):+.3f} | {statistics.stdev(diffs):.3f} | "
            f"{min(diffs):+.3f} - {max(diffs):+.3f} | - | - |"]


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/attention_report.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table here")
    parser.add_argument("--title", default="", help="a line printed above the table")
    parser.add_argument("--spread", action="store_true",
                        help="also summarise runs named <group>_s<seed>: AP mean, std and range per group")
    parser.add_argument("--ap-from", metavar="SUB",
                        help="take each run's AP from RUN_DIR/SUB/metrics.json (tools/test.py --gt-boxes) "
                             "instead of the training's last validation")
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.runs if not (r / "metrics.jsonl").is_file()]
    if missing:
        print(f"error: {missing[0]}: not a training work dir (no metrics.jsonl)", file=sys.stderr)
        return 1
    rows = [run_row(r, args.ap_from) for r in args.runs]
    if args.spread and any(r["AP"] is None for r in rows):
        bad = next(r["run"] for r in rows if r["AP"] is None)
        where = f"{args.ap_from}/metrics.json" if args.ap_from else "metrics.jsonl"
        print(f"error: {bad}: no AP in its {where}", file=sys.stderr)
        return 1
    text = (args.title + "\n\n" if args.title else "") + render(rows)
    if args.spread:
        text += "\n" + render_spread(rows)
    publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
