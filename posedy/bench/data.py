"""Benchmark: training data pipeline throughput, samples per second per core.

One process, one thread (``torch.set_num_threads(1)``, ``cv2.setNumThreads(1)``), the
full training recipe per sample: read and decode the JPEG, draw the augmentation
(half-body, scale, rotation, flip), warp, encode the 17 heatmaps, normalise to a tensor.

Datasets: the real COCO val2017 sample (``--coco-sample``: ``test_coco.json`` and its
JPEGs) and the synthetic dataset (``--synthetic``, generated into a temporary folder
when not given).

Reference: HRNet's ``JointsDataset.__getitem__`` (a checkout of
leoxiaobin/deep-high-resolution-net.pytorch given by ``--hrnet-root``, imported from that
path at run time, never copied), fed the same person records and the same
ToTensor + Normalize transform as HRNet's ``train.py``. The pipelines run interleaved sample
by sample over the same samples, so both see the same machine load; we report the median
of the repeats and the ratio of the medians. Decoding alone is timed the same way, to
show how much of each pipeline is the JPEG decode they share.
"""

import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import cv2
import numpy as np
import torch

from posedy.bench import temporary_modules
from posedy.data.augment import AugmentPolicy
from posedy.data.codec import HeatmapCodec
from posedy.data.coco import load_coco, load_person_records
from posedy.data.crop import IMAGENET_MEAN, IMAGENET_STD
from posedy.data.dataset import TopDownDataset
from posedy.data.keypoints import COCO_FLIP_PAIRS, COCO_LOWER_BODY_IDS, COCO_UPPER_BODY_IDS
from posedy.data.synthetic import SyntheticSpec, make_synthetic_coco
from posedy.sample_data import ENV_VAR, coco_sample_dir, repository_root

# HRNet keeps a box's scale in units of pixel_std = 200 px.
HRNET_PIXEL_STD = 200.0


def add_arguments(parser) -> None:
    parser.add_argument("--coco-sample", default=str(coco_sample_dir()),
                        help="folder with test_coco.json and its images (skipped if absent; default "
                             f"${ENV_VAR} or ../shared/data/coco_sample beside the repository)")
    parser.add_argument("--synthetic", default=None,
                        help="synthetic dataset root (made by tools/make_synthetic_coco.py); "
                             "a small one is generated in a temporary folder when omitted")
    parser.add_argument("--hrnet-root", default=None,
                        help="checkout (or bare git directory) of deep-high-resolution-net.pytorch "
                             "to time its JointsDataset beside ours")
    parser.add_argument("--samples", type=int, default=240, help="samples per repeat and pipeline")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)


def machine_name() -> str:
    """CPU model name as ``lscpu`` reports it (``platform.processor()`` if lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _hrnet_sources(root: Path) -> dict:
    """Text of HRNet's JointsDataset.py and utils/transforms.py from a checkout or a bare git dir."""
    names = {"dataset": "lib/dataset/JointsDataset.py", "transforms": "lib/utils/transforms.py"}
    if (root / names["dataset"]).is_file():
        return {k: (root / v).read_text() for k, v in names.items()}
    out = {}
    for key, rel in names.items():
        res = subprocess.run(["git", f"--git-dir={root}", "show", f"HEAD:{rel}"],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise FileNotFoundError(f"{root}: no {rel} (neither a checkout nor a git directory with it)")
        out[key] = res.stdout
    return out


def load_hrnet_joints_dataset(root) -> type:
    """Import HRNet's ``JointsDataset`` class from ``root`` without installing HRNet.

    Its module imports ``utils.transforms``; that name is bound to HRNet's file only while
    the module loads, then the previous ``sys.modules`` entries are restored.
    """
    sources = _hrnet_sources(Path(root))
    # The files are needed only while loading: the modules keep their compiled code.
    with tempfile.TemporaryDirectory(prefix="hrnet_ref_") as tmp:
        paths = {}
        for key, text in sources.items():
            paths[key] = Path(tmp) / f"hrnet_{key}.py"
            paths[key].write_text(text)
        spec = importlib.util.spec_from_file_location("hrnet_utils_transforms", paths["transforms"])
        transforms = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(transforms)
        package = types.ModuleType("utils")
        package.transforms = transforms
        with temporary_modules({"utils": package, "utils.transforms": transforms}):
            spec = importlib.util.spec_from_file_location("hrnet_joints_dataset", paths["dataset"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    return module.JointsDataset


def _ns(**kwargs):
    return types.SimpleNamespace(**kwargs)


def make_hrnet_dataset(joints_dataset_cls, records, image_size, heatmap_size, sigma):
    """HRNet's training dataset over our records, configured as w32_256x192_adam_lr1e-3.yaml."""
    import torchvision.transforms as T

    cfg = _ns(OUTPUT_DIR=tempfile.gettempdir(),
              DATASET=_ns(DATA_FORMAT="jpg", SCALE_FACTOR=0.35, ROT_FACTOR=45, FLIP=True,
                          NUM_JOINTS_HALF_BODY=8, PROB_HALF_BODY=0.3, COLOR_RGB=True),
              MODEL=_ns(TARGET_TYPE="gaussian", IMAGE_SIZE=list(image_size), HEATMAP_SIZE=list(heatmap_size),
                        SIGMA=sigma),
              LOSS=_ns(USE_DIFFERENT_JOINTS_WEIGHT=False))
    transform = T.Compose([T.ToTensor(), T.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))])
    ds = joints_dataset_cls(cfg, "", "train2017", True, transform)
    ds.num_joints = 17
    ds.flip_pairs = [list(p) for p in COCO_FLIP_PAIRS]
    ds.upper_body_ids = COCO_UPPER_BODY_IDS
    ds.lower_body_ids = COCO_LOWER_BODY_IDS
    ds.aspect_ratio = image_size[0] / image_size[1]
    for rec in records:
        vis = (rec.keypoints[:, 2:3] > 0).astype(np.float32)
        ds.db.append({
            "image": rec.image_path, "center": rec.center.astype(np.float64),
            "scale": rec.scale.astype(np.float64) / HRNET_PIXEL_STD,
            "joints_3d": np.concatenate([rec.keypoints[:, :2], np.zeros((17, 1), np.float32)], 1),
            "joints_3d_vis": np.repeat(vis, 3, axis=1), "filename": "", "imgnum": 0,
        })
    return ds


def _interleaved_pass(pipelines: dict, indices) -> dict:
    """Samples/s of each pipeline over ``indices``, alternating pipelines sample by sample.

    Alternating per sample (not per pass) puts every pipeline under the same machine load,
    which matters on a shared machine.
    """
    spent = dict.fromkeys(pipelines, 0.0)
    for i in indices:
        for name, getitem in pipelines.items():
            start = time.perf_counter()
            getitem(i)
            spent[name] += time.perf_counter() - start
    return {name: len(indices) / t for name, t in spent.items()}


def bench_records(records, hrnet_cls, *, samples: int, repeats: int, seed: int,
                  image_size=(192, 256), heatmap_size=(48, 64), sigma=2.0) -> dict:
    """Interleaved timing of ours (and HRNet's when ``hrnet_cls``) over the same samples."""
    # HRNet's recipe: the policy's defaults are w32_256x192_adam_lr1e-3.yaml's augmentation.
    ours = TopDownDataset(records, HeatmapCodec(image_size, heatmap_size, sigma),
                          AugmentPolicy(image_size=tuple(image_size)), seed=seed)
    indices = [i % len(records) for i in range(samples)]
    # JPEG decoding alone, the part both pipelines share unchanged.
    pipelines = {"decode_only": lambda i: cv2.imread(records[i].image_path,
                                                     cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION),
                 "posedy": ours.__getitem__}
    if hrnet_cls is not None:
        import random

        random.seed(seed)
        np.random.seed(seed)
        ref = make_hrnet_dataset(hrnet_cls, records, image_size, heatmap_size, sigma)
        pipelines["hrnet"] = ref.__getitem__
    _interleaved_pass(pipelines, indices[: min(len(indices), 2 * len(records))])  # warm-up: page cache
    runs = {name: [] for name in pipelines}
    for r in range(repeats):
        ours.set_epoch(r)
        for name, value in _interleaved_pass(pipelines, indices).items():
            runs[name].append(value)
    out = {"records": len(records), "samples_per_repeat": samples}
    for name, values in runs.items():
        out[name] = {"median_samples_per_s": statistics.median(values), "runs": [round(v, 2) for v in values]}
    decode_ms = 1e3 / out["decode_only"]["median_samples_per_s"]
    out["posedy"]["ms_per_sample_excluding_decode"] = 1e3 / out["posedy"]["median_samples_per_s"] - decode_ms
    if "hrnet" in runs:
        out["hrnet"]["ms_per_sample_excluding_decode"] = 1e3 / out["hrnet"]["median_samples_per_s"] - decode_ms
        out["ratio_posedy_over_hrnet"] = out["posedy"]["median_samples_per_s"] / out["hrnet"]["median_samples_per_s"]
        out["ratio_excluding_decode"] = (out["hrnet"]["ms_per_sample_excluding_decode"]
                                         / out["posedy"]["ms_per_sample_excluding_decode"])
    return out


def _shown_path(path) -> str:
    """``path`` relative to the repository root (``../.mirror/...``), so a results file and the
    doc generated from it name no machine's absolute folder."""
    return os.path.relpath(os.path.abspath(path), repository_root())


def run(args) -> dict:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    hrnet_cls, reference = None, "none (pass --hrnet-root)"
    if args.hrnet_root:
        try:
            hrnet_cls = load_hrnet_joints_dataset(args.hrnet_root)
            reference = f"HRNet JointsDataset from {_shown_path(args.hrnet_root)}"
        except (OSError, ImportError, AttributeError) as exc:
            # The reference is optional: report ours alone and say why.
            reference = f"none ({_shown_path(args.hrnet_root)}: {exc})"
    result = {"benchmark": "data", "cpu_model": machine_name(), "threads": 1,
              "opencv": cv2.__version__, "numpy": np.__version__, "reference": reference}
    sample = Path(args.coco_sample) if args.coco_sample else None
    if sample is not None and (sample / "test_coco.json").is_file():
        coco = load_coco(sample / "test_coco.json")
        records = load_person_records(coco, sample, (192, 256), ann_file=sample / "test_coco.json")
        result["coco_sample"] = bench_records(records, hrnet_cls, samples=args.samples,
                                              repeats=args.repeats, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="posedy_bench_") as tmp:
        root = Path(args.synthetic) if args.synthetic else Path(tmp)
        if not args.synthetic:
            make_synthetic_coco(root, seed=args.seed, spec=SyntheticSpec(train_images=80, val_images=0))
        ann = root / "annotations" / "person_keypoints_train2017.json"
        records = load_person_records(load_coco(ann), root / "images" / "train2017", (192, 256), ann_file=ann)
        result["synthetic"] = bench_records(records, hrnet_cls, samples=args.samples,
                                            repeats=args.repeats, seed=args.seed)
    return result


def main(argv=None) -> int:
    """Run this benchmark alone: ``python -m posedy.bench.data --hrnet-root DIR``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
