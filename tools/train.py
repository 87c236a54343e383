"""Train a pose model from an experiment YAML.

Examples:
    python tools/train.py experiments/synthetic/mbv2-x0.5_dy4_typeB-w0.25_128x96_adam_lr4e-3_e22.yaml
    python tools/train.py EXP.yaml --work-dir work_dirs/exp --resume            # = --resume auto
    python tools/train.py EXP.yaml --work-dir work_dirs/exp --overwrite         # start again there
    python tools/train.py EXP.yaml --opts train.batch_size=16 train.epochs=5
    torchrun --nproc_per_node 2 tools/train.py EXP.yaml --work-dir work_dirs/exp
"""

import argparse
import sys
from pathlib import Path

from posedy.cli import counted
from posedy.config import ConfigError, load_experiment
from posedy.data import DataError
from posedy.engine import CheckpointError, TrainingError, run_training
from posedy.engine.allocator import keep_freed_memory
from posedy.engine.workdir import WorkDirError
from posedy.errors import describe_os_error, one_line_message, tool_main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("config", help="experiment YAML")
    parser.add_argument("--work-dir", help="output folder (default: work_dirs/<YAML file name>)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="auto|PATH",
                        help="continue from WORK_DIR/last.pth ('auto', the default when given "
                             "without a value; starts fresh if there is none) or from PATH")
    parser.add_argument("--overwrite", action="store_true",
                        help="a fresh run may replace the last.pth/best.pth of an earlier training in "
                             "WORK_DIR (without it such a work dir is refused)")
    parser.add_argument("--resume-config", choices=("refuse", "checkpoint"), default="refuse",
                        help="when the resumed checkpoint was trained with other settings than the "
                             "YAML and --opts give: refuse, naming the keys (default), or continue "
                             "with the checkpoint's settings")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. train.lr=2e-3")
    return parser.parse_args(argv)


@tool_main
def main(argv=None, hooks=None) -> int:
    """Run the tool; ``hooks`` (a posedy.engine.TrainHooks) is for fault-injection tests."""
    args = parse_args(argv)
    try:
        cfg = load_experiment(args.config, args.opts)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    work_dir = Path(args.work_dir) if args.work_dir else Path("work_dirs") / Path(args.config).stem
    # Large activations freed and re-allocated every step would otherwise be page-faulted anew.
    keep_freed_memory()
    try:
        summary = run_training(cfg, work_dir, resume=args.resume, hooks=hooks, overwrite=args.overwrite,
                               resume_config=args.resume_config)
    except ConfigError as exc:
        print(f"error: {one_line_message(exc)}", file=sys.stderr)
        return 2
    except (CheckpointError, TrainingError, DataError, WorkDirError) as exc:
        print(f"error: {one_line_message(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    if not summary["is_main"] or summary["already_finished"]:
        return 0  # a finished run said so (run_training) and wrote nothing
    best = "n/a" if summary["best_ap"] is None else f"{summary['best_ap']:.4f} (epoch {summary['best_epoch']})"
    print(f"done: {counted(summary['epochs'], 'epoch')}, {counted(summary['step'], 'iteration')}, best AP {best}; "
          f"checkpoints in {work_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
