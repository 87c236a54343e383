"""Training curves of a run: ``python tools/plot_curves.py WORK_DIR [--out curves.png]``.

Reads WORK_DIR/metrics.jsonl (written by tools/train.py) and draws loss, validation AP,
learning rate and tau against the epoch into one PNG (default WORK_DIR/curves.png).
"""

import argparse
import json
import sys
from pathlib import Path

from posedy.errors import one_line_message, tool_main
from posedy.vis.curves import write_training_curves


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("work_dir", help="training work dir holding metrics.jsonl")
    parser.add_argument("--out", help="PNG to write (default WORK_DIR/curves.png)")
    args = parser.parse_args(argv)
    metrics = Path(args.work_dir) / "metrics.jsonl"
    if not metrics.is_file():
        print(f"error: {metrics}: no such file (is {args.work_dir} a training work dir?)", file=sys.stderr)
        return 1
    try:
        out = write_training_curves(args.work_dir, args.out)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        print(f"error: {metrics}: {one_line_message(exc)}", file=sys.stderr)
        return 1
    print(f"curves: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
