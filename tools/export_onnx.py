"""Export a trained pose model to ONNX.

    python tools/export_onnx.py EXPERIMENT.yaml --checkpoint CKPT --out FILE [--batch 1|dynamic]
    python tools/export_onnx.py EXPERIMENT.yaml --checkpoint CKPT --out FILE --format ort-nchwc

``--format onnx`` (default) writes a portable ONNX model. ``--format ort-nchwc`` writes the
fastest CPU form for onnxruntime *on this machine* (batch 1; onnxruntime's NCHWc graph with each
dynamic layer's aggregated kernel fed into it, ``posedy.deploy.ort_nchwc``): hardware specific,
so build it where it will run.

The ONNX file is written by torch's ``torch.export``-based exporter (it needs onnxscript, a
dependency of posedy's ``dev`` extra); the deprecated TorchScript-based exporter is only the
fallback, for an opset below 18, without onnxscript, or when the new exporter fails on the model.
The closing line names the exporter used, and for the fallback why.
"""

import argparse
import sys

import torch
import torch.onnx.errors

from posedy.config import ConfigError, load_experiment
from posedy.deploy import export_nchwc, export_onnx
from posedy.cli import load_pose_model
from posedy.deploy.onnx_export import DEFAULT_OPSET
from posedy.engine.checkpoint import CheckpointError
from posedy.errors import one_line_message, os_error_reason, tool_main


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/export_onnx.py", description=__doc__.strip().splitlines()[0])
    parser.add_argument("experiment", help="experiment YAML")
    parser.add_argument("--checkpoint", required=True, help="training checkpoint or model state_dict")
    parser.add_argument("--out", required=True, help="ONNX file to write")
    parser.add_argument("--batch", default=None, choices=("1", "dynamic"),
                        help="fixed batch 1 or a symbolic batch axis (default: dynamic for onnx, "
                             "1 for ort-nchwc, which only takes 1)")
    parser.add_argument("--format", default="onnx", choices=("onnx", "ort-nchwc"),
                        help="portable ONNX (default) or onnxruntime's CPU graph for this machine")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (default {DEFAULT_OPSET}; below 18 the TorchScript-based exporter writes it)")
    parser.add_argument("--check", action="store_true",
                        help="run onnxruntime on a random input and compare with PyTorch")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dotted config overrides, e.g. model.head.dynamic=false")
    args = parser.parse_args(argv)
    if args.format == "ort-nchwc" and args.batch == "dynamic":
        parser.error("--format ort-nchwc runs one image at a time: use --batch 1 or leave --batch out")
    if args.batch is None:
        args.batch = "1" if args.format == "ort-nchwc" else "dynamic"
    # The range both exporters cover: the TorchScript fallback must be able to write any opset accepted.
    from torch.onnx import _constants as onnx_constants

    low, high = onnx_constants.ONNX_MIN_OPSET, onnx_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    if not low <= args.opset <= high:
        parser.error(f"--opset {args.opset}: this torch exports opsets {low} to {high}")
    try:
        cfg = load_experiment(args.experiment, args.opts)
        model = load_pose_model(cfg.model, args.checkpoint)
    except (ConfigError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    batch = 1 if args.batch == "1" else "dynamic"
    try:
        if args.format == "ort-nchwc":
            path, exporter = export_nchwc(model, args.out, cfg.data.image_size), ""
        else:
            written = export_onnx(model, args.out, cfg.data.image_size, batch=batch, opset=args.opset)
            path, exporter = written.path, f", {written.describe()}"
    except OSError as exc:
        print(f"error: {args.out}: cannot write ({os_error_reason(exc)})", file=sys.stderr)
        return 1
    except torch.onnx.errors.OnnxExporterError as exc:
        print(f"error: {args.out}: cannot export this model at --opset {args.opset} ({one_line_message(exc)})",
              file=sys.stderr)
        return 1
    size = f"{cfg.data.image_size[0]}x{cfg.data.image_size[1]} w x h"
    print(f"wrote {path} ({args.format}, batch {args.batch}, input {size}{exporter})")
    if args.check:
        from posedy.deploy.onnx_check import max_abs_difference
        diff = max_abs_difference(model, path, cfg.data.image_size, batch=2 if batch == "dynamic" else 1)
        print(f"max |onnxruntime - torch| = {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
