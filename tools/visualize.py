"""Draw poses: a results file over its images, or a checkpoint run on any image.

Examples:
    # (a) a results JSON over its images, ground truth on the left
    python tools/visualize.py --results work_dirs/exp/test/results.json \\
        --ann data/coco/annotations/person_keypoints_val2017.json --images data/coco/images/val2017 \\
        --out work_dirs/exp/vis --with-gt --max-images 20
    # (b) a checkpoint on one image: one box, detections of that image, or the whole image
    python tools/visualize.py EXP.yaml --checkpoint best.pth --image photo.jpg --box 120,40,200,380 --out vis/
    python tools/visualize.py EXP.yaml --checkpoint best.pth --image 000000000785.jpg \\
        --det-boxes dets.json --out vis/

Writes one picture per image into --out: joints of the left side green, of the right side orange
(the key is in the bottom-left corner), each person's box labelled with its score (in mode a the
box of its shown joints, a results file having no boxes). Errors are one line on stderr with a non-zero exit.
"""

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from posedy.cli import counted, error, load_pose_model
from posedy.config import ConfigError, load_experiment
from posedy.data.coco import load_coco, read_json, resolve_image_path
from posedy.data.dataset import read_image
from posedy.data.keypoints import flip_pairs_for
from posedy.engine.checkpoint import CheckpointError
from posedy.evaluation.inference import predict_boxes
from posedy.evaluation.rescore import rescore
from posedy.evaluation.results import load_keypoint_results
from posedy.vis.render import compare_with_ground_truth, draw_predictions, draw_results, group_results_by_image
from posedy.errors import finite_float, os_error_reason, tool_main, torch_device

FORMATS = ("jpg", "png")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools/visualize.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("config", nargs="?", help="experiment YAML (mode b)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--thr", type=finite_float, default=0.3, help="hide joints scoring below this (default 0.3)")
    parser.add_argument("--format", choices=FORMATS, default="jpg", help="picture format (default jpg)")
    a = parser.add_argument_group("mode a: a results file")
    a.add_argument("--results", metavar="FILE", help="COCO keypoint results JSON")
    a.add_argument("--ann", metavar="FILE", help="annotation file of the results' images")
    a.add_argument("--images", metavar="DIR", help="folder of the images")
    a.add_argument("--with-gt", action="store_true", help="draw the ground truth beside the predictions")
    a.add_argument("--min-score", type=finite_float, default=0.2, help="skip instances scoring below this (default 0.2)")
    a.add_argument("--max-images", type=int, default=0, help="at most this many images (0: all)")
    b = parser.add_argument_group("mode b: a checkpoint on an image")
    b.add_argument("--checkpoint", metavar="CKPT")
    b.add_argument("--image", metavar="IMG")
    boxes = b.add_mutually_exclusive_group()
    boxes.add_argument("--box", metavar="X,Y,W,H", help="one person box in pixels")
    boxes.add_argument("--det-boxes", metavar="FILE",
                       help="detections (COCO results format) of the image: its image_id is the "
                            "number in its file name, or the only image id in the file")
    b.add_argument("--det-thr", type=finite_float, default=0.5, help="detection score threshold (default 0.5)")
    b.add_argument("--no-flip", action="store_true")
    b.add_argument("--device", type=torch_device, default="cpu")
    b.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.results is not None:
        missing = [n for n, v in (("--ann", args.ann), ("--images", args.images)) if v is None]
        if missing:
            parser.error(f"--results needs {' and '.join(missing)}")
        if args.config or args.checkpoint or args.image:
            parser.error("--results (mode a) cannot be combined with EXPERIMENT/--checkpoint/--image (mode b)")
    else:
        if args.config is None or args.checkpoint is None or args.image is None:
            parser.error("give --results/--ann/--images (mode a) or EXPERIMENT --checkpoint --image (mode b)")
        if args.box is not None:
            try:
                box = [float(v) for v in args.box.split(",")]
            except ValueError:
                box = []
            if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
                parser.error(f"--box {args.box!r}: expected X,Y,W,H, finite, with positive W and H")
            args.box = box
    if args.max_images < 0:
        parser.error("--max-images must be >= 0")
    return args


def _write(path: Path, image) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: cv2 could not write the picture")


def visualize_results(args) -> int:
    try:
        coco = load_coco(args.ann)
        groups = group_results_by_image(load_keypoint_results(args.results))
    except ValueError as exc:
        return error(str(exc))
    unknown = [i for i in groups if i not in coco.imgs]
    if unknown:
        return error(f"{args.results}: image id {unknown[0]} is not in {args.ann}")
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return error(f"{out_dir}: cannot create ({os_error_reason(exc)})")
    image_ids = sorted(groups)
    if args.max_images:
        image_ids = image_ids[:args.max_images]
    written = 0
    for image_id in image_ids:
        info = coco.imgs[image_id]
        try:
            path = resolve_image_path(args.images, info["file_name"], args.ann, image_id)
        except ValueError as exc:
            return error(str(exc))
        image = read_image(path)
        if image is None:
            return error(f"{path}: missing or not a decodable image")
        kps, scores = groups[image_id]
        if args.with_gt:
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=False))
            picture = compare_with_ground_truth(image, kps, scores, anns, joint_thr=args.thr,
                                                min_score=args.min_score)
        else:
            picture = draw_results(image, kps, scores, joint_thr=args.thr, min_score=args.min_score)
        try:
            _write(out_dir / f"{Path(info['file_name']).stem}.{args.format}", picture)
        except OSError as exc:
            return error(str(exc))
        written += 1
    print(f"wrote {counted(written, 'picture')} to {out_dir}")
    return 0


def _boxes_for_image(args, image_path: Path, shape) -> np.ndarray:
    """(N, 4) boxes for mode b: --box, the image's detections, or the whole image."""
    if args.box is not None:
        return np.array([args.box], dtype=np.float64)
    if args.det_boxes is None:
        return np.array([[0.0, 0.0, shape[1], shape[0]]])
    dets = read_json(args.det_boxes)
    if not isinstance(dets, list):
        raise ValueError(f"{args.det_boxes}: detection results must be a JSON list")
    ids = {d.get("image_id") for d in dets if isinstance(d, dict)}
    stem = image_path.stem
    if stem.isdigit() and int(stem) in ids:
        image_id = int(stem)
    elif len(ids) == 1:
        image_id = ids.pop()
    else:
        raise ValueError(f"{args.det_boxes}: no detections for image id {stem} (from the file name)")
    boxes = [d["bbox"] for d in dets if d.get("image_id") == image_id and d.get("category_id", 1) == 1
             and float(d.get("score", 1.0)) >= args.det_thr]
    if not boxes:
        raise ValueError(f"{args.det_boxes}: no person detection of image {image_id} scores >= {args.det_thr}")
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def visualize_checkpoint(args) -> int:
    try:
        cfg = load_experiment(args.config, args.opts)
    except ConfigError as exc:
        return error(str(exc))
    image_path = Path(args.image)
    image = read_image(image_path)
    if image is None:
        return error(f"{image_path}: missing or not a decodable image")
    try:
        boxes = _boxes_for_image(args, image_path, image.shape)
        model = load_pose_model(cfg.model, args.checkpoint)
    except (CheckpointError, ValueError) as exc:
        return error(str(exc))
    model.to(torch.device(args.device))
    flip_pairs = flip_pairs_for(cfg.model.num_joints)
    kps = predict_boxes(model, image, boxes, cfg.data.image_size, flip_pairs, padding=cfg.data.box_padding,
                        flip=not args.no_flip, shift=cfg.test.shift_heatmap, method=cfg.test.post_process)
    scores = rescore(np.ones(len(kps)), kps[..., 2], cfg.test.keypoint_score_thr)
    picture = draw_predictions(image, kps, scores, joint_thr=args.thr, boxes=boxes, legend=True)
    out_dir = Path(args.out)
    out_path = out_dir / f"{image_path.stem}_pose.{args.format}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write(out_path, picture)
    except OSError as exc:
        return error(f"{out_path}: cannot write ({os_error_reason(exc)})")
    print(f"wrote {out_path} ({counted(len(boxes), 'person', 'people')})")
    return 0


@tool_main
def main(argv=None) -> int:
    args = parse_args(argv)
    return visualize_results(args) if args.results is not None else visualize_checkpoint(args)


if __name__ == "__main__":
    sys.exit(main())
