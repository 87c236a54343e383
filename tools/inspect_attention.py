"""Inspect a dynamic pose model: attention statistics per layer and AP per kernel aggregation.

Reproduces the paper's Section 4.3 checks on pose estimation: per-layer attention entropy
and largest weight over validation crops (flat at low levels, sparse at high levels?), AP
when every dynamic layer aggregates its kernels by attention, average, argmax, attention
shuffled over kernels, or attention of another image (Table 3), and AP with attention on
or off per input-resolution group (Table 4).

Examples:
    python tools/inspect_attention.py EXP.yaml --checkpoint work_dirs/exp/best.pth   # -> work_dirs/exp/inspect
    python tools/inspect_attention.py EXP.yaml --checkpoint best.pth --max-images 100 --skip-table4

Writes attention_stats.json, attention.png (bar charts drawn with OpenCV), aggregation_ap.json
and the results_<row>.json scored for each table row into the work dir (default: inspect/
beside the checkpoint; the files of an earlier run there are never replaced without
--overwrite) and prints the tables. Each AP is posedy.evaluation.evaluate on the chosen images.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from posedy.cli import error, load_pose_model, output_dir, refuse_to_replace
from posedy.config import ConfigError, load_experiment
from posedy.data import DataError, build_dataset
from posedy.engine.checkpoint import CheckpointError
from posedy.engine.workdir import check_work_dir
from posedy.errors import os_error_reason, tool_main
from posedy.evaluation.attention import (aggregation_mode, attention_statistics,
                                         named_dynamic_layers, recording_attention, resolution_groups,
                                         set_group_pattern, table4_patterns)
from posedy.evaluation.evaluator import (EvaluationError, build_eval_settings, evaluate, first_image_ids,
                                         predict_dataset)
from posedy.evaluation.results import write_json_atomic
from posedy.layers import INSPECTION_MODES, set_inspection_mode
from posedy.vis.draw import bar_chart

# What a run writes into its work dir; an earlier run's are kept unless --overwrite.
OUTPUTS = ("attention_stats.json", "aggregation_ap.json", "attention.png", "results_*.json")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/inspect_attention.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("config", help="experiment YAML")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT")
    parser.add_argument("--work-dir", metavar="DIR", help="output folder (default: inspect/ beside the checkpoint)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the outputs of an earlier run in the work dir (without it the run is refused)")
    parser.add_argument("--det-boxes", metavar="FILE", help="detection boxes (default: ground-truth boxes)")
    parser.add_argument("--max-images", type=int, default=0,
                        help="use the crops of the first N validation images (0: all); AP is scored on them")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="crops per batch; 'shuffle across images' permutes within a batch (default 32)")
    parser.add_argument("--no-flip", action="store_true", help="no flip test in the AP runs")
    parser.add_argument("--skip-ap", action="store_true", help="statistics and plot only")
    parser.add_argument("--skip-table4", action="store_true", help="no per-resolution on/off runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle modes")
    parser.add_argument("--device", help="default: cuda if available, else cpu")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.max_images < 0 or args.batch_size < 1:
        parser.error("--max-images must be >= 0 and --batch-size >= 1")
    return args


def _layer_label(index: int, stat: dict) -> str:
    """``"3 bb 32x24"``: the layer's index, its stage (bb = backbone, hd = head) and input size."""
    stage = {"backbone": "bb", "head": "hd"}.get(stat["layer"].split(".")[0], stat["layer"].split(".")[0][:2])
    size = "x".join(str(v) for v in stat["input_hw"]) if stat["input_hw"] else "?"
    return f"{index} {stage} {size}"


def _plot(stats: list, modes: dict, path: Path) -> None:
    labels = [_layer_label(i, r) for i, r in enumerate(stats)]
    res = [f"{r['input_hw'][0]}x{r['input_hw'][1]}" if r["input_hw"] else "?" for r in stats]
    width = max(640, 40 * len(stats) + 80)
    panels = [
        bar_chart([r["entropy_norm"] for r in stats], labels, size=(width, 260), value_range=(0, 1),
                  title="normalised attention entropy per dynamic layer (1 = flat, 0 = one kernel)"),
        bar_chart([r["max_weight"] for r in stats], labels, size=(width, 260), value_range=(0, 1),
                  color=(60, 160, 60), title="mean largest attention weight per dynamic layer"),
        bar_chart([r["input_hw"][0] if r["input_hw"] else 0 for r in stats], labels, size=(width, 200),
                  color=(150, 150, 150), title="input height per layer (" + ", ".join(dict.fromkeys(res)) + ")"),
    ]
    if modes:
        names = list(modes)
        panels.append(bar_chart([modes[n] for n in names], names, size=(width, 260), value_range=(0, 1),
                                color=(40, 90, 220), title="AP by kernel aggregation (Table 3)",
                                value_format="{:.3f}"))
    if not cv2.imwrite(str(path), np.concatenate(panels, axis=0)):
        raise OSError(f"{path}: cv2 could not write the plot")


@tool_main
def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = list(args.opts) + ["test.use_gt_boxes=" + ("false" if args.det_boxes else "true")]
    try:
        cfg = load_experiment(args.config, overrides)
    except ConfigError as exc:
        return error(str(exc))
    work_dir = output_dir(args.work_dir, args.checkpoint, "inspect")
    check_work_dir(work_dir)
    refuse_to_replace(work_dir, OUTPUTS, overwrite=args.overwrite)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        model = load_pose_model(cfg.model, args.checkpoint)
    except (CheckpointError, ValueError) as exc:
        return error(str(exc))
    model.to(device).eval()
    if not named_dynamic_layers(model):
        return error(f"{args.config}: the model has no dynamic convolution layers to inspect")
    try:
        dataset = build_dataset(cfg, "val", boxes="det" if args.det_boxes else "gt", det_file=args.det_boxes)
    except (DataError, ValueError) as exc:
        return error(str(exc))
    image_ids = first_image_ids(dataset, args.max_images)
    settings = build_eval_settings(cfg, batch_size=args.batch_size, flip=not args.no_flip)

    def run(name: str) -> float:
        metrics = evaluate(model, dataset, settings, work_dir / f"results_{name}.json", device=device,
                           image_ids=image_ids, progress=True).metrics
        print(f"  {name:<40s} AP {metrics['AP']:.4f}")
        return metrics["AP"]

    # Statistics: one pass without flip, attention recorded per layer.
    with recording_attention(model) as (records, sizes):
        predictions = predict_dataset(model, dataset, replace(settings, flip=False), device=device,
                                      image_ids=image_ids, progress=True)
    attention = {name: np.concatenate(chunks) for name, chunks in records.items() if chunks}
    stats = attention_statistics(attention, sizes)
    groups = resolution_groups(sizes)
    print(f"{'#':>3} {'layer':<48} {'input':>7} {'entropy/logK':>12} {'max w':>6} {'top share':>9}")
    for i, r in enumerate(stats):
        hw = "x".join(map(str, r["input_hw"]))
        print(f"{i:>3} {r['layer']:<48.48} {hw:>7} {r['entropy_norm']:>12.3f} {r['max_weight']:>6.3f} "
              f"{r['top_kernel_share']:>9.3f}")

    table3, table4 = {}, []
    try:
        if not args.skip_ap:
            print("Table 3: kernel aggregation")
            for mode in INSPECTION_MODES:
                with aggregation_mode(model, mode, args.seed):
                    table3[mode] = run(mode)
            if not args.skip_table4:
                names = ["x".join(map(str, hw)) for hw, _ in groups]
                print("Table 4: attention on (+) / average kernel (-) per input resolution: " + " ".join(names))
                for pattern in table4_patterns(len(groups)):
                    tag = " ".join("+" if on else "-" for on in pattern)
                    set_group_pattern(model, groups, pattern)
                    table4.append({"attention_on": dict(zip(names, pattern)), "AP": run(tag.replace(" ", ""))})
                set_inspection_mode(model, "attention")
        write_json_atomic(work_dir / "attention_stats.json",
                          {"layers": stats, "groups": [{"input_hw": list(hw), "layers": n} for hw, n in groups],
                           "num_crops": len(predictions["index"]), "num_images": len(image_ids)})
        write_json_atomic(work_dir / "aggregation_ap.json", {"table3": table3, "table4": table4})
        _plot(stats, table3, work_dir / "attention.png")
    except EvaluationError as exc:
        return error(str(exc))
    except OSError as exc:
        return error(f"{work_dir}: cannot write ({os_error_reason(exc)})")
    print(f"wrote {work_dir / 'attention_stats.json'}, {work_dir / 'aggregation_ap.json'}, "
          f"{work_dir / 'attention.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
