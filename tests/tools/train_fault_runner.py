"""Run tools/train.py with a SIGKILL injected at a chosen point (for test_train_tool.py).

    python train_fault_runner.py --kill-after-step N -- <tools/train.py arguments>
    python train_fault_runner.py --kill-in-save last.pth:K -- <tools/train.py arguments>

``--kill-after-step N`` kills the process right after optimizer step N. ``--kill-in-save
NAME:K`` kills it during the K-th write of NAME, after the new checkpoint is fully written
to its temporary file and before it replaces the old one. The kill is a real SIGKILL: no
Python cleanup runs, as with the OOM killer or a pulled plug.
"""

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path

from posedy.engine import TrainHooks

TOOL = Path(__file__).resolve().parents[2] / "tools" / "train.py"


def _kill() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-after-step", type=int, default=0)
    parser.add_argument("--kill-in-save", default="")
    parser.add_argument("tool_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    tool_args = args.tool_args[1:] if args.tool_args[:1] == ["--"] else args.tool_args

    saves = {}

    def after_step(epoch, iteration, step):
        if step == args.kill_after_step:
            _kill()

    def before_replace(path, tmp):
        saves[path.name] = saves.get(path.name, 0) + 1
        if args.kill_in_save:
            name, count = args.kill_in_save.split(":")
            if path.name == name and saves[name] == int(count):
                _kill()

    spec = importlib.util.spec_from_file_location("train_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main(tool_args, hooks=TrainHooks(after_step=after_step, before_checkpoint_replace=before_replace))


if __name__ == "__main__":
    sys.exit(main())
