"""Parameters and multiply-adds of a pose experiment or of a classifier.

    python tools/complexity.py experiments/coco/EXPERIMENT.yaml [--json]
    python tools/complexity.py --classifier mobilenet_v2 [--width-mult 0.5] [--num-kernels 4 | --static]
                               [--input-size 224] [--json]

Pose models are measured at the experiment's crop size (data.image_size); the JSON is
{"backbone": {"params": int, "madds": int}, "head": {...}, "total": {...}} (classifiers: "total" only).
"""

import argparse
import json
import sys
from pathlib import Path

from posedy.config import MAX_NUM_KERNELS, ConfigError, load_experiment
from posedy.models import build_classifier, build_pose_model, count_complexity, pose_complexity
from posedy.errors import finite_float, positive_int, tool_main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="*", metavar="experiment",
                        help="experiment YAML of a pose model (several: one report each)")
    parser.add_argument("--classifier", metavar="NAME", help="measure an ImageNet classifier instead")
    parser.add_argument("--width-mult", type=finite_float, default=1.0, help="classifier width multiplier (MobileNetV2)")
    kernels = parser.add_mutually_exclusive_group()
    kernels.add_argument("--num-kernels", type=int, default=4, help="K of the dynamic classifier (default 4)")
    kernels.add_argument("--static", action="store_true", help="static classifier")
    parser.add_argument("--input-size", type=positive_int, default=224, help="classifier input side (default 224)")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dotted config overrides for the experiment, e.g. model.head.dynamic=false")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--brief", action="store_true", help="one line: the experiment and its totals")
    args = parser.parse_args(argv)
    if bool(args.experiments) == bool(args.classifier):
        parser.error("give either experiment YAML files or --classifier NAME")
    if args.input_size < 32:
        parser.error(f"--input-size {args.input_size}: must be >= 32 (the classifiers' stride)")
    if args.num_kernels > MAX_NUM_KERNELS:
        parser.error(f"--num-kernels {args.num_kernels}: must be <= {MAX_NUM_KERNELS}")
    return args


def measure(args, experiment=None) -> dict:
    if args.classifier:
        model = build_classifier(args.classifier, width_mult=args.width_mult, dynamic=not args.static,
                                 num_kernels=args.num_kernels)
        return {"total": count_complexity(model, args.input_size).as_dict()}
    cfg = load_experiment(experiment, args.opts)
    model = build_pose_model(cfg.model)
    return {part: c.as_dict() for part, c in pose_complexity(model, tuple(cfg.data.image_size)).items()}


def report(args, name: str, result: dict) -> None:
    if args.json:
        print(json.dumps(result))
    elif args.brief:
        total = result["total"]
        print(f"{name:<70} params {total['params'] / 1e6:8.3f}M  MAdds {total['madds'] / 1e6:9.1f}M")
    else:
        for part, c in result.items():
            print(f"{part:<9} params {c['params'] / 1e6:8.3f}M  MAdds {c['madds'] / 1e6:9.1f}M")


@tool_main
def main(argv=None) -> int:
    args = parse_args(argv)
    for experiment in args.experiments or [None]:
        try:
            result = measure(args, experiment)
        except (ConfigError, KeyError, ValueError) as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
        report(args, args.classifier or Path(experiment).stem, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
