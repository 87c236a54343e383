"""Write augmented training crops with their target joints drawn, to check the data pipeline by eye.

Each picture shows the crop the model sees (de-normalised) with the joints that carry
weight in the target (left side warm, right side cool, skeleton in grey) and, beside it,
the sum of the target heatmaps upsampled to the crop.

Examples:
    python tools/browse_dataset.py experiments/synthetic/mbv2-x0.5_dy4_typeB-w0.25_128x96_adam_lr4e-3_e22.yaml --out work_dirs/browse
    python tools/browse_dataset.py EXP.yaml --out DIR --n 32 --split val --opts data.augment.flip=false
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from posedy.cli import counted
from posedy.config import ConfigError, load_experiment
from posedy.data import DataError, build_dataset
from posedy.data.crop import IMAGENET_MEAN, IMAGENET_STD, transform_keypoints
from posedy.data.keypoints import COCO_FLIP_PAIRS, COCO_SKELETON
from posedy.errors import non_negative_int, positive_int, tool_main

LEFT_BGR, RIGHT_BGR, CENTRE_BGR = (0, 110, 255), (255, 140, 0), (0, 220, 0)


def denormalize(image_chw) -> np.ndarray:
    """(3, H, W) normalised RGB float -> (H, W, 3) uint8 BGR."""
    rgb = image_chw.transpose(1, 2, 0) * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN)
    return np.ascontiguousarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)[:, :, ::-1])


def draw_joints(canvas, joints, weight) -> np.ndarray:
    """Draw weighted joints (K, 2) crop px and the limbs between them onto a BGR uint8 copy."""
    out = canvas.copy()
    left = {a for a, _ in COCO_FLIP_PAIRS}
    right = {b for _, b in COCO_FLIP_PAIRS}
    pts = [tuple(int(round(v)) for v in p) for p in joints]
    for a, b in COCO_SKELETON:
        if weight[a] > 0 and weight[b] > 0:
            cv2.line(out, pts[a], pts[b], (160, 160, 160), 1, cv2.LINE_AA)
    for j, p in enumerate(pts):
        if weight[j] > 0:
            colour = LEFT_BGR if j in left else RIGHT_BGR if j in right else CENTRE_BGR
            cv2.circle(out, p, 3, colour, -1, cv2.LINE_AA)
    return out


def heatmap_panel(target, size) -> np.ndarray:
    """Sum of the (K, h, w) target heatmaps as a BGR colour map of ``size`` (w, h)."""
    total = np.clip(target.sum(axis=0), 0.0, 1.0)
    grey = cv2.resize((total * 255).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(grey, cv2.COLORMAP_JET)


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("config", help="experiment YAML")
    parser.add_argument("--out", required=True, help="folder for the pictures")
    parser.add_argument("--n", type=positive_int, default=16, help="number of samples (default 16)")
    parser.add_argument("--split", choices=("train", "val"), default="train")
    parser.add_argument("--epoch", type=non_negative_int, default=0, help="epoch whose random draws to show")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. data.augment.half_body_prob=1.0")
    args = parser.parse_args(argv)
    if args.n < 1:
        print("error: --n must be >= 1", file=sys.stderr)
        return 2
    try:
        cfg = load_experiment(args.config, args.opts)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        dataset = build_dataset(cfg, args.split)
        dataset.set_epoch(args.epoch)
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        for index in range(min(args.n, len(dataset))):
            item = dataset[index]
            rec = dataset.records[index]
            t = dataset.draw_transform(index)
            joints, _ = transform_keypoints(rec.keypoints[:, :2], rec.keypoints[:, 2] > 0,
                                            t.matrix(dataset.image_size), t.flip, dataset.flip_perm)
            crop = draw_joints(denormalize(item["image"].numpy()), joints, item["target_weight"][:, 0].numpy())
            panel = heatmap_panel(item["target"].numpy(), dataset.image_size)
            name = out_dir / f"{index:05d}_img{rec.image_id}{'_flip' if t.flip else ''}.png"
            if not cv2.imwrite(str(name), np.hstack([crop, panel])):
                raise OSError(f"{name}: could not write")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {counted(min(args.n, len(dataset)), 'picture')} to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
