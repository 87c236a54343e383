"""Print the demo's summary table: model, params, MAdds, COCO AP with ground-truth and detection boxes.

    python tools/summarize_demo.py WORK_DIR EXPERIMENT.yaml [EXPERIMENT.yaml ...] [--markdown FILE]

Reads ``WORK_DIR/<experiment name>/test/metrics.json`` written by ``tools/test.py``.
"""

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import torch

from posedy.config import ConfigError, load_experiment
from posedy.engine.logging import last_validation_ap
from posedy.errors import tool_main
from posedy.models import build_pose_model
from posedy.models.complexity import pose_complexity
from posedy.reports import publish


def machine_name() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform), with the core count."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def _val_set_size(cfg) -> str:
    """``"data/synthetic_coco (200 images, 416 people)"``: read from the annotation file the runs
    were validated on, so the stamp cannot go stale when the generator's sizes change."""
    ann = Path(cfg.data.root) / cfg.data.val_ann
    try:
        data = json.loads(ann.read_text())
        images, people = len(data["images"]), len(data["annotations"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{ann} (unreadable: {exc.__class__.__name__})"
    return f"{cfg.data.root} ({images} images, {people} {'person' if people == 1 else 'people'})"


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("experiments", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)

    rows = []
    for path in args.experiments:
        try:
            cfg = load_experiment(path)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        model = build_pose_model(cfg.model)
        cx = pose_complexity(model, tuple(cfg.data.image_size))["total"]
        metrics_file = args.work_dir / path.stem / "test" / "metrics.json"
        try:
            metrics = json.loads(metrics_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: {metrics_file}: cannot read metrics ({exc.__class__.__name__})", file=sys.stderr)
            return 1
        kind = "dynamic K=%d" % cfg.model.backbone.num_kernels if cfg.model.backbone.dynamic else "static"
        gt_ap = last_validation_ap(args.work_dir / path.stem / "metrics.jsonl")
        rows.append((path.stem, kind, cx.params / 1e6, cx.madds / 1e6, gt_ap, metrics["AP"], metrics["AP .5"],
                     metrics["AR"]))

    val_set = _val_set_size(cfg)
    header = ("experiment", "conv", "params (M)", "MAdds (M)", "AP, GT boxes", "AP, det boxes", "AP .5", "AR")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, kind, params, madds, gt_ap, ap, ap50, ar in rows:
        gt = "-" if gt_ap is None else f"{gt_ap:.3f}"
        lines.append(f"| {name} | {kind} | {params:.2f} | {madds:.1f} | {gt} | {ap:.3f} | {ap50:.3f} | {ar:.3f} |")
    stamp = (f"Measured by tools/demo.sh on {machine_name()}, "
             f"{datetime.date.today().isoformat()}, torch {torch.__version__}; val set {val_set}; "
             "AP with ground-truth boxes is the training run's last validation, the other columns come from "
             "tools/test.py with the generated detection boxes; flip test in both.")
    text = "\n".join(lines) + "\n\n" + stamp + "\n"
    publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
