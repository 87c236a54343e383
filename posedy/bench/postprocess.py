"""Benchmark: COCO post-processing (rescoring + OKS-NMS + results JSON) at val2017 scale.

COCO val2017 with the usual person detections is about 100,000 boxes over 5,000 images.
Predictions are generated (seeded) as a few people per image, each detected several times
with jittered joints, so that OKS-NMS has real suppression work to do.

Optionally runs HRNet's own ``oks_nms`` (``lib/nms/nms.py`` of a checkout of
leoxiaobin/deep-high-resolution-net.pytorch given by ``--hrnet-root``) beside ours, image by
image as HRNet's COCO evaluation does, and checks that both keep the same poses. HRNet's
module imports two compiled Cython extensions at the top that ``oks_nms`` does not use; they
are replaced by empty stand-in modules so that no build is needed.
"""

import importlib.util
import statistics
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from posedy.bench import temporary_modules
from posedy.evaluation.nms import oks_nms_grouped
from posedy.evaluation.rescore import rescore
from posedy.evaluation.rescore_nms import select_final_poses
from posedy.evaluation.results import write_keypoint_results


def add_arguments(parser) -> None:
    parser.add_argument("--num-boxes", type=int, default=100_000)
    parser.add_argument("--num-images", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oks-thr", type=float, default=0.9)
    parser.add_argument("--keypoint-thr", type=float, default=0.2)
    parser.add_argument("--hrnet-root", default=None,
                        help="checkout of deep-high-resolution-net.pytorch to time its oks_nms beside ours")


def make_predictions(num_boxes: int, num_images: int, seed: int = 0, num_joints: int = 17):
    """Synthetic top-down predictions shaped like COCO val2017 with detection boxes.

    Returns:
        dict with ``keypoints`` (N, K, 3) float64 image ``(x, y, score)``, ``box_scores``
        (N,), ``areas`` (N,) padded crop areas, ``image_ids`` (N,) int64 (shuffled order).
    """
    rng = np.random.default_rng(seed)
    image_ids = rng.integers(0, num_images, num_boxes)
    people_per_image = 4
    person = rng.integers(0, people_per_image, num_boxes)
    # A person is a centre, a size and a pose template; detections of the same person
    # jitter the joints by a few percent of the size.
    centres = rng.uniform(100, 540, (num_images, people_per_image, 1, 2))
    sizes = rng.uniform(30, 300, (num_images, people_per_image))
    templates = rng.uniform(-0.5, 0.5, (num_images, people_per_image, num_joints, 2))
    size = sizes[image_ids, person]
    jitter = rng.normal(0, 0.02, (num_boxes, num_joints, 2))
    xy = centres[image_ids, person] + (templates[image_ids, person] + jitter) * size[:, None, None]
    # Half of the boxes are false positives: poses of their own, anywhere in the image.
    false = rng.random(num_boxes) < 0.5
    xy[false] = (rng.uniform(100, 540, (false.sum(), 1, 2))
                 + rng.uniform(-0.5, 0.5, (false.sum(), num_joints, 2)) * size[false, None, None])
    joint_scores = rng.beta(2, 2, (num_boxes, num_joints))
    keypoints = np.concatenate([xy, joint_scores[..., None]], axis=-1)
    areas = (size * 1.25) ** 2 * 0.75
    box_scores = rng.uniform(0.01, 1.0, num_boxes)
    return {"keypoints": keypoints, "box_scores": box_scores, "areas": areas, "image_ids": image_ids}


def load_hrnet_oks_nms(hrnet_root):
    """HRNet's ``oks_nms`` function, imported from a checkout (nothing is copied)."""
    path = Path(hrnet_root) / "lib" / "nms" / "nms.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (is --hrnet-root a checkout of "
                                "deep-high-resolution-net.pytorch?)")
    package = types.ModuleType("_hrnet_nms")
    package.__path__ = [str(path.parent)]
    stubs = {"_hrnet_nms": package, "_hrnet_nms.cpu_nms": types.ModuleType("_hrnet_nms.cpu_nms"),
             "_hrnet_nms.gpu_nms": types.ModuleType("_hrnet_nms.gpu_nms")}
    stubs["_hrnet_nms.cpu_nms"].cpu_nms = None
    stubs["_hrnet_nms.gpu_nms"].gpu_nms = None
    with temporary_modules(stubs):
        spec = importlib.util.spec_from_file_location("_hrnet_nms.nms", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.oks_nms


def _hrnet_style(oks_nms, preds, scores, oks_thr):
    """HRNet's evaluation loop: group into per-image lists of dicts, oks_nms per image."""
    groups = {}
    for i, img in enumerate(preds["image_ids"].tolist()):
        groups.setdefault(img, []).append({"keypoints": preds["keypoints"][i], "score": scores[i],
                                           "area": preds["areas"][i], "index": i})
    kept = []
    for img in sorted(groups):
        db = groups[img]
        kept += [db[k]["index"] for k in oks_nms(db, oks_thr)]
    return np.array(kept, dtype=np.int64)


def run(args) -> dict:
    """Median seconds of rescoring + OKS-NMS (``select_s``), of writing the results JSON
    (``write_s``) and of both (``total_s``) over ``--repeats`` runs; with ``--hrnet-root``,
    HRNet's per-image ``oks_nms`` on the same rescored poses, timed once (it is slow) right
    after ours, and whether both keep the same poses."""
    preds = make_predictions(args.num_boxes, args.num_images, args.seed)
    select_times, write_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "results.json"
        for _ in range(args.repeats):
            start = time.perf_counter()
            final = select_final_poses(preds["keypoints"], preds["box_scores"], preds["areas"],
                                       preds["image_ids"], keypoint_thr=args.keypoint_thr, oks_thr=args.oks_thr)
            middle = time.perf_counter()
            write_keypoint_results(out_path, final["image_ids"], final["keypoints"], final["scores"])
            select_times.append(middle - start)
            write_times.append(time.perf_counter() - middle)
        json_bytes = out_path.stat().st_size
    totals = [a + b for a, b in zip(select_times, write_times)]
    result = {"benchmark": "postprocess",
        "num_boxes": args.num_boxes, "num_images": args.num_images, "kept": int(len(final["index"])),
        "select_s": statistics.median(select_times), "write_s": statistics.median(write_times),
        "total_s": statistics.median(totals), "total_s_all": [round(t, 3) for t in totals],
        "json_mb": round(json_bytes / 2 ** 20, 1),
    }
    if args.hrnet_root:
        oks_nms = load_hrnet_oks_nms(args.hrnet_root)
        scores = rescore(preds["box_scores"], preds["keypoints"][..., 2], args.keypoint_thr)
        start = time.perf_counter()
        ours_keep = oks_nms_grouped(preds["keypoints"], scores, preds["areas"], preds["image_ids"], args.oks_thr)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        hrnet_keep = _hrnet_style(oks_nms, preds, scores, args.oks_thr)
        hrnet_s = time.perf_counter() - start
        result.update({"ours_oks_nms_s": ours_s, "hrnet_oks_nms_s": hrnet_s, "hrnet_over_ours": hrnet_s / ours_s,
                       "hrnet_kept": int(len(hrnet_keep)),
                       "same_keep_set": set(hrnet_keep.tolist()) == set(ours_keep.tolist())})
    return result


def main(argv=None) -> None:
    import argparse
    import json
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args(argv)), indent=2))


if __name__ == "__main__":
    main()
