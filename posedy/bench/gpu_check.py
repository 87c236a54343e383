"""The GPU check (``tools/gpu_check.sh``): CUDA tests, training throughput, the paper's schedule.

1. ``pytest tests/gpu``: every ``DynamicConv2d`` path forward and backward on CUDA against the
   CPU result, AMP and ``channels_last`` training steps, a 1-process NCCL DDP step with
   SyncBatchNorm, ``tools/test.py`` on CUDA (each skipped, with the reason, without a GPU).
2. ``posedy.bench.train_step`` on CUDA: static and dynamic Type-B MobileNetV2 x0.5 at batch 128,
   256x192, float16 autocast (``train.amp``): images/s.
3. The projected time of the paper's COCO schedule (210 epochs of the 149,813 train2017 person
   instances) at those rates, for one GPU, training steps only (no validation, data loading
   assumed to keep up).

One JSON (``gpu_check.json``) in ``--out``; on a CPU machine the CUDA parts are skipped and the
JSON says why. ``--smoke`` runs the throughput code on the CPU at a toy size (for the test suite).
"""

import argparse
import datetime
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from posedy.evaluation.results import write_json_atomic
from posedy.sample_data import repository_root

# The paper's schedule (Section 6, after HRNet / SimpleBaseline): 210 epochs over the person
# instances of COCO train2017 that HRNet keeps (its "=> load 149813 samples").
PAPER_EPOCHS = 210
COCO_TRAIN_INSTANCES = 149_813


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="work_dirs/gpu_check", help="folder for gpu_check.json and the test log")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--skip-tests", action="store_true", help="only the throughput and the projection")
    parser.add_argument("--smoke", action="store_true",
                        help="run the throughput code on the CPU at a toy size (checks the script, measures nothing)")


def projected_hours(images_per_s: float, epochs: int = PAPER_EPOCHS,
                    instances: int = COCO_TRAIN_INSTANCES) -> float:
    """Hours of training steps for ``epochs`` passes over ``instances`` at ``images_per_s``."""
    return epochs * instances / images_per_s / 3600.0


def run_gpu_tests(out: Path) -> dict:
    """``pytest tests/gpu`` in a child process; counts from its JUnit XML, log in ``out``."""
    junit, log = out / "gpu_tests.xml", out / "gpu_tests.log"
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/gpu",
           f"--junitxml={junit}"]
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, cwd=repository_root(), stdout=handle, stderr=subprocess.STDOUT)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    skip_reasons = set()
    if junit.is_file():
        root = ET.parse(junit).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in counts}
        skip_reasons = {s.get("message", "") for s in root.iter("skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"returncode": proc.returncode, **counts, "skip_reasons": sorted(skip_reasons),
            "log": str(log), "ok": proc.returncode == 0}


def run_throughput(args) -> dict:
    from posedy.bench import train_step

    parser = argparse.ArgumentParser()
    train_step.add_arguments(parser)
    if args.smoke:
        argv = ["--batch", "2", "--input-size", "32", "32", "--steps", "1", "--warmup", "0", "--device", "cpu"]
    else:
        argv = ["--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
                "--device", "cuda", "--amp"]
    bench_args = parser.parse_args(argv + ["--variants", "static", "dynamic"])
    result = train_step.run(bench_args)
    result["projection"] = {
        "schedule": f"{PAPER_EPOCHS} epochs x {COCO_TRAIN_INSTANCES} COCO train2017 person instances",
        "hours_one_gpu": {v: round(projected_hours(ips), 2) for v, ips in result["images_per_s"].items()},
        "note": "training steps only: no validation, data loading assumed to keep up",
    }
    return result


def run(args) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    result = {"benchmark": "gpu-check",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": cuda,
              "device": torch.cuda.get_device_name(0) if cuda else None, "skipped": []}
    if not cuda:
        message = "no CUDA device: CUDA tests skip and the GPU throughput is not measured"
        print(f"gpu_check: {message}", file=sys.stderr)
        result["skipped"].append(message)
    if not args.skip_tests:
        result["gpu_tests"] = run_gpu_tests(out)
        print(f"gpu_check: tests/gpu: {result['gpu_tests']['passed']} passed, {result['gpu_tests']['failures']} "
              f"failed, {result['gpu_tests']['errors']} errors, {result['gpu_tests']['skipped']} skipped "
              f"(log {result['gpu_tests']['log']})", file=sys.stderr)
    if cuda or args.smoke:
        result["train_step"] = run_throughput(args)
        if args.smoke:
            result["train_step"]["smoke"] = "toy size on the CPU: checks the code, not a measurement"
        print(f"gpu_check: images/s {result['train_step']['images_per_s']}, projected hours "
              f"{result['train_step']['projection']['hours_one_gpu']}", file=sys.stderr)
    path = out / "gpu_check.json"
    write_json_atomic(path, result)
    result["written"] = str(path)
    print(f"gpu_check: wrote {path}", file=sys.stderr)
    return result
