"""Benchmarks: ``python tools/benchmark.py {inference,train-step,data,postprocess,gpu-check} [options] [--json]``.

Each sub-command runs ``posedy.bench.<name>`` (``add_arguments(parser)``, ``run(args) -> dict``).
"""

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys

import torch

from posedy.errors import tool_main

COMMANDS = {"inference": "inference", "train-step": "train_step", "data": "data", "postprocess": "postprocess",
            "gpu-check": "gpu_check"}


def machine() -> dict:
    """CPU model (``lscpu``), cores, torch version and the date, recorded with every result."""
    cpu = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), cpu)
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for command, module_name in COMMANDS.items():
        try:
            modules[command] = importlib.import_module(f"posedy.bench.{module_name}")
        except ImportError as exc:
            modules[command] = exc
        p = sub.add_parser(command)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        if not isinstance(modules[command], Exception):
            modules[command].add_arguments(p)
    args = parser.parse_args(argv)
    module = modules[args.command]
    if isinstance(module, Exception):
        print(f"error: benchmark {args.command!r} is not available (posedy.bench.{COMMANDS[args.command]}: {module})",
              file=sys.stderr)
        return 2
    result = module.run(args)
    result = {"machine": machine(), **result}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print(result)
    return 0


def _print(result, indent: int = 0) -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print(" " * indent + f"{key}:")
            _print(value, indent + 2)
        else:
            print(" " * indent + f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
