"""Generate the synthetic COCO-format person-keypoint dataset used by the demo and the tests.

Example: python tools/make_synthetic_coco.py --out data/synthetic --seed 0
         python tools/make_synthetic_coco.py --out data/synthetic --seed 0 --if-stale

With --if-stale nothing is written when the folder's stamp (written with the data) shows the same
seed, sizes and generator code; otherwise the dataset is generated anew (tools/demo.sh uses this,
so a copy made by an older generator is never reused). A stale dataset is replaced only when this
tool stamped it; any other dataset in --out needs --overwrite.
"""

import argparse
import sys
import time
from pathlib import Path

from posedy.cli import counted
from posedy.data.synthetic import STAMP_NAME, SyntheticSpec, make_synthetic_coco, stamp_is_current
from posedy.errors import os_error_reason, tool_main


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (COCO layout is written inside)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-images", type=int, default=SyntheticSpec.train_images)
    parser.add_argument("--val-images", type=int, default=SyntheticSpec.val_images)
    parser.add_argument("--width", type=int, default=SyntheticSpec.image_size[0])
    parser.add_argument("--height", type=int, default=SyntheticSpec.image_size[1])
    parser.add_argument("--if-stale", action="store_true",
                        help="generate only when the folder's stamp differs from this seed, size and generator "
                             "code; a stale dataset that this tool stamped is replaced")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a dataset already in --out (without it an existing one is refused)")
    args = parser.parse_args(argv)
    if args.train_images < 0 or args.val_images < 0:
        print("error: --train-images and --val-images must be >= 0", file=sys.stderr)
        return 2
    if args.width < 64 or args.height < 64:
        print("error: --width and --height must be at least 64", file=sys.stderr)
        return 2
    spec = SyntheticSpec(train_images=args.train_images, val_images=args.val_images,
                         image_size=(args.width, args.height))
    if args.if_stale and stamp_is_current(args.out, args.seed, spec):
        print(f"{args.out}: up to date (same seed, sizes and generator code); nothing written")
        return 0
    existing = sorted(Path(args.out).glob("annotations/*.json"))
    # --if-stale replaces only what this tool generated (it carries the stamp).
    ours = args.if_stale and (Path(args.out) / STAMP_NAME).is_file()
    if existing and not (args.overwrite or ours):
        print(f"error: {args.out}: already holds a dataset ({existing[0].name}"
              f"{f' and {len(existing) - 1} more' if len(existing) > 1 else ''}); use another --out "
              f"or pass --overwrite to replace it", file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        summary = make_synthetic_coco(args.out, args.seed, spec)
    except OSError as exc:
        print(f"error: {args.out}: {os_error_reason(exc)}", file=sys.stderr)
        return 1
    print(f"wrote {counted(summary['train_images'], 'train image')} "
          f"({counted(summary['train_people'], 'person', 'people')}), "
          f"{counted(summary['val_images'], 'val image')} ({counted(summary['val_people'], 'person', 'people')}), "
          f"{counted(summary['detections'], 'detection')} to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
