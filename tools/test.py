"""Evaluate a pose checkpoint on COCO keypoints, or score a results file alone.

Examples:
    python tools/test.py EXP.yaml --checkpoint work_dirs/exp/best.pth            # detection boxes
    python tools/test.py EXP.yaml --checkpoint best.pth --gt-boxes --no-flip --post-process dark
    python tools/test.py EXP.yaml --onnx model.onnx --det-boxes dets.json --work-dir out/
    python tools/test.py --results out/results.json --ann person_keypoints_val2017.json

Writes WORK_DIR/results.json (COCO keypoint results) and WORK_DIR/metrics.json (the ten
COCO metrics at the top level, the run's settings under "run"), both atomically, and prints
the AP/AR table. WORK_DIR defaults to test/ beside the checkpoint (or ONNX file); the files
of an earlier run there are never replaced without --overwrite. The evaluation itself is
posedy.evaluation.evaluate. Errors are one line on stderr with a non-zero exit.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

from posedy.cli import counted, error, load_pose_model, output_dir, refuse_to_replace
from posedy.config import ConfigError, config_to_dict, load_experiment
from posedy.data import DataError, build_dataset
from posedy.engine.checkpoint import CheckpointError
from posedy.engine.workdir import check_work_dir, ensure_writable_dir
from posedy.errors import one_line_message, os_error_reason, tool_main, torch_device
from posedy.evaluation import (EvaluationError, OnnxPoseRunner, build_eval_settings, evaluate, evaluate_coco_keypoints,
                               format_metrics_table, write_json_atomic)

# What a model run writes into its work dir; an earlier run's are kept unless --overwrite.
OUTPUTS = ("results.json", "metrics.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools/test.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("config", nargs="?", help="experiment YAML (not with --results)")
    parser.add_argument("--checkpoint", metavar="CKPT", help="checkpoint .pth with a 'model' state dict")
    parser.add_argument("--onnx", metavar="FILE", help="evaluate this ONNX model instead of a checkpoint")
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument("--det-boxes", metavar="FILE", help="person detections (COCO results format)")
    boxes.add_argument("--gt-boxes", action="store_true", help="crop the ground-truth boxes")
    parser.add_argument("--no-flip", action="store_true", help="no flip test")
    parser.add_argument("--post-process", choices=("quarter", "dark", "argmax"), help="heatmap decoding")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="output folder (default: test/ beside the --checkpoint or --onnx file)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results.json/metrics.json of an earlier run in the work dir "
                             "(without it they are kept and the run is refused)")
    parser.add_argument("--batch-size", type=int, metavar="B")
    parser.add_argument("--device", type=torch_device, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. test.oks_thr=0.8")
    parser.add_argument("--results", metavar="FILE", help="score this results JSON alone (needs --ann)")
    parser.add_argument("--ann", metavar="FILE", help="annotation file for --results")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.results is not None:
        if args.ann is None:
            parser.error("--results needs --ann")
        extra = [name for name, value in (("EXPERIMENT", args.config), ("--checkpoint", args.checkpoint),
                                          ("--onnx", args.onnx), ("--det-boxes", args.det_boxes))
                 if value is not None] + (["--gt-boxes"] if args.gt_boxes else [])
        if extra:
            parser.error(f"--results scores a file alone; it cannot be combined with {', '.join(extra)}")
        return args
    if args.ann is not None:
        parser.error("--ann goes with --results (a model run reads data.val_ann of the experiment)")
    if args.config is None:
        parser.error("an experiment YAML is required (or --results FILE --ann FILE)")
    if (args.checkpoint is None) == (args.onnx is None):
        parser.error("give exactly one of --checkpoint and --onnx")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    return args


def _overrides(args) -> list:
    opts = list(args.opts)
    if args.no_flip:
        opts.append("test.flip=false")
    if args.post_process:
        opts.append(f"test.post_process={args.post_process}")
    if args.batch_size:
        opts.append(f"test.batch_size={args.batch_size}")
    if args.gt_boxes:
        opts.append("test.use_gt_boxes=true")
    if args.det_boxes:
        opts.append("test.use_gt_boxes=false")
    return opts


def score_results(args) -> int:
    if args.work_dir:
        work_dir = Path(args.work_dir)
        try:
            ensure_writable_dir(work_dir)
        except OSError as exc:
            return error(f"{args.work_dir}: cannot write there ({os_error_reason(exc)})")
        refuse_to_replace(work_dir, ("metrics.json",), overwrite=args.overwrite)
    try:
        metrics = evaluate_coco_keypoints(args.ann, args.results)
    except ValueError as exc:
        return error(str(exc))
    print(format_metrics_table(metrics, Path(args.results).stem))
    if args.work_dir:
        try:
            write_json_atomic(work_dir / "metrics.json",
                              {**metrics, "run": {"results": str(args.results), "ann": str(args.ann)}})
        except OSError as exc:
            return error(f"{args.work_dir}: cannot write there ({os_error_reason(exc)})")
    return 0


def evaluate_model(args) -> int:
    try:
        cfg = load_experiment(args.config, _overrides(args))
    except ConfigError as exc:
        return error(str(exc), 2)
    work_dir = output_dir(args.work_dir, args.checkpoint or args.onnx, "test")
    check_work_dir(work_dir)
    refuse_to_replace(work_dir, OUTPUTS, overwrite=args.overwrite)
    device = args.device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if args.onnx:
            model = OnnxPoseRunner(args.onnx)
            device = torch.device("cpu")
            fixed = model.input_size_wh()
            if fixed is not None and tuple(fixed) != tuple(cfg.data.image_size):
                return error(f"{args.onnx}: takes {fixed[0]}x{fixed[1]} (w x h) crops, but the experiment's "
                             f"data.image_size is {cfg.data.image_size[0]}x{cfg.data.image_size[1]}")
        else:
            model = load_pose_model(cfg.model, args.checkpoint, device)
    except (CheckpointError, ValueError) as exc:
        return error(str(exc))
    use_gt = cfg.test.use_gt_boxes
    try:
        dataset = build_dataset(cfg, "val", boxes="gt" if use_gt else "det",
                                det_file=None if use_gt else args.det_boxes)
    except (DataError, ValueError) as exc:
        return error(str(exc))
    start = time.perf_counter()
    try:
        result = evaluate(model, dataset, build_eval_settings(cfg), work_dir / "results.json", device=device,
                          progress=not args.no_progress)
    except DataError as exc:
        return error(one_line_message(exc))
    except EvaluationError as exc:
        return error(str(exc))
    except torch.OutOfMemoryError:
        return error(f"out of memory on {device} with test.batch_size={cfg.test.batch_size}; lower it, "
                     f"e.g. --batch-size {max(cfg.test.batch_size // 2, 1)}")
    seconds = time.perf_counter() - start
    if result.num_corrupt:
        print(f"warning: {result.num_corrupt} instance(s) skipped, their image could not be decoded "
              f"(data.skip_corrupt_images)", file=sys.stderr)
    boxes = "gt" if use_gt else str(args.det_boxes or cfg.data.resolve("det_file"))
    # The metric names sit at the top level (tools/summarize_demo.py reads them there);
    # how they were obtained goes under "run".
    run = {
        "experiment": str(args.config), "checkpoint": str(args.checkpoint or args.onnx),
        "boxes": boxes, "flip": cfg.test.flip, "post_process": cfg.test.post_process,
        "num_instances": result.num_instances, "num_corrupt": result.num_corrupt,
        "seconds": round(seconds, 3), "device": str(device), "config": config_to_dict(cfg),
    }
    summary = {**result.metrics, "run": run}
    try:
        write_json_atomic(work_dir / "metrics.json", summary)
    except OSError as exc:
        return error(f"{work_dir / 'metrics.json'}: cannot write ({os_error_reason(exc)})")
    print(format_metrics_table(result.metrics, cfg.name))
    print(f"results: {result.results_file}  metrics: {work_dir / 'metrics.json'}  "
          f"({counted(result.num_instances, 'instance')}, {seconds:.1f} s on {device})")
    return 0


@tool_main
def main(argv=None) -> int:
    args = parse_args(argv)
    return score_results(args) if args.results is not None else evaluate_model(args)


if __name__ == "__main__":
    sys.exit(main())
