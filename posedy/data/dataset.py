"""The top-down dataset: one person crop, its heatmap targets and its metadata per item.

``TopDownDataset.__getitem__`` is the whole recipe: read the image, draw the sample's
transform, warp once, map and encode the joints, normalise. ``build_dataset`` is the only
code in ``posedy.data`` that reads a config.
"""

import os
import threading
from typing import Optional

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from posedy.data.augment import (AugmentPolicy, CropTransform, apply_photometric, build_photometric,
                                 shift_affine, source_window, transform_keypoints, warp_crop)
from posedy.data.codec import encode_heatmaps
from posedy.data.coco import DataError, load_coco, load_detection_records, load_person_records
from posedy.data.keypoints import COCO_FLIP_PAIRS, COCO_JOINT_WEIGHTS, NUM_COCO_KEYPOINTS
from posedy.data.seeding import SampleRng

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Per-channel affine that maps uint8 RGB to ImageNet-normalised float in one multiply-add.
_NORM_SCALE = (1.0 / (255.0 * np.asarray(IMAGENET_STD))).astype(np.float32)
_NORM_BIAS = (np.asarray(IMAGENET_MEAN) / np.asarray(IMAGENET_STD)).astype(np.float32)
_NORM_SCALE3 = _NORM_SCALE.reshape(3, 1, 1)
_NORM_BIAS3 = _NORM_BIAS.reshape(3, 1, 1)


def read_image(path):
    """Decode an image file as BGR uint8 (H, W, 3), or None if missing or undecodable.

    EXIF orientation is ignored, as in COCO's annotations (and HRNet).
    """
    return cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


# OpenCV 5's bilinear warpAffine has a vectorised path for 4-channel 8-bit images that
# 3-channel images do not get: warping BGRA is about 2x faster there (same pixels), which
# pays for converting the source window to BGRA. OpenCV 4.x is the other way round.
WARP_FOUR_CHANNELS = int(cv2.__version__.split(".")[0]) >= 5


class CropScratch(threading.local):
    """Reusable buffers for ``crop_image`` and ``normalize_crop``, one set per thread.

    A sample's intermediate images (the BGRA source window, the warped crop, its three
    channel planes) are written into these buffers instead of fresh arrays: allocating and
    freeing about a megabyte per sample makes glibc hand the memory back to the kernel and
    fault it in again (hundreds of page faults per sample). Nothing returned to a caller
    lives in them except ``crop_image``'s result, which the next call overwrites. ``rng``
    is the thread's reused sample generator (``posedy.data.seeding.SampleRng``).
    """

    def __init__(self, output_size):
        w, h = int(output_size[0]), int(output_size[1])
        channels = 4 if WARP_FOUR_CHANNELS else 3
        self.crop = np.empty((h, w, channels), dtype=np.uint8)
        self.planes = np.empty((3, h, w), dtype=np.uint8)
        self._window = np.empty(0, dtype=np.uint8)
        self.plane_list = list(self.planes)
        self.rng = SampleRng()

    def window(self, h: int, w: int, channels: int) -> np.ndarray:
        """A (h, w, channels) uint8 view of a buffer that grows to the largest window seen."""
        n = h * w * channels
        if self._window.size < n:
            self._window = np.empty(n, dtype=np.uint8)
        return self._window[:n].reshape(h, w, channels)


def crop_image(image, mat, output_size, scratch=None) -> np.ndarray:
    """Warp the part of ``image`` (H, W, 3) BGR uint8 that ``mat`` maps into ``output_size``.

    Only the source window the crop can see is converted and warped (see
    ``source_window``); the result equals ``warp_crop(image, mat, output_size)`` up to
    cv2's 1/32-pixel coordinate rounding.

    Args:
        scratch: optional ``CropScratch`` for ``output_size``; the result is then its
            buffer, valid until the next call with the same scratch.
    Returns:
        (h, w, 3) or (h, w, 4) uint8 BGR(A) crop; the 4th channel, if any, is padding.
    """
    window = source_window(mat, output_size, image.shape[:2])
    channels = 4 if WARP_FOUR_CHANNELS else 3
    size = (int(output_size[0]), int(output_size[1]))
    if window is None:
        if scratch is None:
            return np.zeros((size[1], size[0], channels), dtype=np.uint8)
        scratch.crop.fill(0)
        return scratch.crop
    x0, y0, x1, y1 = window
    sub = image[y0:y1, x0:x1]
    if WARP_FOUR_CHANNELS:
        dst = None if scratch is None else scratch.window(y1 - y0, x1 - x0, 4)
        sub = cv2.cvtColor(sub, cv2.COLOR_BGR2BGRA, dst=dst)
    return warp_crop(sub, shift_affine(mat, x0, y0), size, dst=None if scratch is None else scratch.crop)


def normalize_crop(crop, bgr: bool = True, scratch=None) -> np.ndarray:
    """ImageNet-normalise a uint8 crop into channel-first RGB float32.

    Channel order is fixed here, on the small crop, so the full image is never converted.

    Args:
        crop: (h, w, 3) or (h, w, 4) uint8 (a 4th channel is ignored); bgr: whether the
            first three channels are BGR (cv2's order) rather than RGB; scratch: optional
            ``CropScratch`` of the crop's size, for the channel planes.
    Returns:
        (3, h, w) float32: ``(value / 255 - mean) / std`` per RGB channel.
    """
    h, w = crop.shape[:2]
    planes = scratch.planes if scratch is not None else np.empty((3, h, w), dtype=np.uint8)
    plane_list = scratch.plane_list if scratch is not None else list(planes)
    # One pass de-interleaves R, G, B into contiguous planes (measured ~1.4x faster to
    # normalise than strided reads of the interleaved crop).
    order = (2, 1, 0) if bgr else (0, 1, 2)
    cv2.mixChannels([np.ascontiguousarray(crop)], plane_list, [order[0], 0, order[1], 1, order[2], 2])
    out = np.multiply(planes, _NORM_SCALE3, dtype=np.float32)
    out -= _NORM_BIAS3
    return out


class TopDownDataset(Dataset):
    """Person crops for top-down pose estimation.

    Args:
        records: list of ``PersonRecord``.
        image_size: crop ``(w, h)``; heatmap_size: ``(w, h)``; sigma: heatmap px.
        target_encoding: ``"hrnet"`` or ``"subpixel"`` (``posedy.data.codec.encode_heatmaps``).
        train: draw a random augmentation per sample (otherwise crop the record's box).
        scale_factor, rotation_factor, rotation_prob, flip_prob, half_body_prob,
        half_body_min_joints, upper_body_prob, photometric: the augmentation policy
        (see ``posedy.data.augment.AugmentPolicy``); used only when ``train``.
        flip_pairs: left/right joint pairs swapped by a flip.
        seed: base seed; sample ``i`` of epoch ``e`` uses
            ``np.random.default_rng([seed, e, i])``, so items do not depend on worker
            count, worker assignment or the resume point.
        joint_weights: optional (K,) per-joint loss weights folded into ``target_weight``.
        skip_corrupt_images: for an unreadable image, return an item with zero targets and
            ``corrupt=True`` instead of raising ``DataError``.
        coco, ann_file: the annotation file's pycocotools object and path (for evaluation).

    Item (dict): ``image`` float32 tensor (3, H, W) normalised RGB; ``target`` float32
    tensor (K, Hh, Wh); ``target_weight`` float32 tensor (K, 1); ``center`` (2,) and
    ``scale`` (2,) float32 arrays of the cropped region; ``score`` float; ``image_id`` int;
    ``index`` int; ``corrupt`` bool (sum it over an epoch to count skipped images; it
    works with any number of workers).
    """

    def __init__(self, records, image_size, heatmap_size, sigma: float, *, train: bool,
                 scale_factor: float = 0.35, rotation_factor: float = 45.0, rotation_prob: float = 0.6,
                 flip_prob: float = 0.5, half_body_prob: float = 0.3, half_body_min_joints: int = 8,
                 upper_body_prob: float = 0.7, photometric: bool = False, flip_pairs=COCO_FLIP_PAIRS,
                 seed: int = 0, joint_weights=None, skip_corrupt_images: bool = False,
                 coco=None, ann_file=None, target_encoding: str = "hrnet"):
        self.records = list(records)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.target_encoding = str(target_encoding)
        self.train = bool(train)
        self.num_joints = int(self.records[0].keypoints.shape[0]) if self.records else NUM_COCO_KEYPOINTS
        self.policy = AugmentPolicy(
            image_size=self.image_size, scale_factor=scale_factor, rotation_factor=rotation_factor,
            rotation_prob=rotation_prob, flip_prob=flip_prob, half_body_prob=half_body_prob,
            half_body_min_joints=half_body_min_joints, upper_body_prob=upper_body_prob,
            photometric=photometric, num_joints=self.num_joints, flip_pairs=tuple(flip_pairs))
        self.flip_perm = self.policy.flip_perm
        self.seed = int(seed)
        self.epoch = 0
        self.joint_weights = None if joint_weights is None else np.asarray(joint_weights, np.float32)
        self.skip_corrupt_images = bool(skip_corrupt_images)
        self.coco = coco
        self.ann_file = None if ann_file is None else str(ann_file)
        self._photometric = build_photometric() if (photometric and self.train) else None
        # Counts corrupt images seen by *this process*; with workers, sum items' ``corrupt``.
        self.corrupt_count = 0
        self._scratch = CropScratch(self.image_size)

    def __getstate__(self):
        # Thread-local scratch buffers do not pickle (DataLoader workers under spawn).
        state = self.__dict__.copy()
        del state["_scratch"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._scratch = CropScratch(self.image_size)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (call before each training epoch)."""
        self.epoch = int(epoch)

    def draw_transform(self, index: int) -> CropTransform:
        """The transform item ``index`` gets in the current epoch (identity crop if not training)."""
        rec = self.records[index]
        if not self.train:
            return CropTransform(center=rec.center, scale=rec.scale)
        # The generator np.random.default_rng([seed, epoch, index]) would give (see seeding.py).
        rng = self._scratch.rng([self.seed, self.epoch, int(index)])
        return self.policy.sample(rng, rec.keypoints[:, :2], rec.keypoints[:, 2], rec.center, rec.scale)

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        image = read_image(rec.image_path)
        corrupt = image is None
        if corrupt:
            if not self.skip_corrupt_images:
                raise DataError(f"{rec.image_path}: missing or not a decodable image")
            self.corrupt_count += 1
        t = self.draw_transform(index)
        mat = t.matrix(self.image_size)
        if corrupt:
            crop = np.zeros((self.image_size[1], self.image_size[0], 3), dtype=np.uint8)
        else:
            crop = crop_image(image, mat, self.image_size, self._scratch)
        joints, visible = transform_keypoints(rec.keypoints[:, :2], rec.keypoints[:, 2] > 0, mat, t.flip,
                                              self.flip_perm)
        if self._photometric is not None and not corrupt:
            crop = apply_photometric(self._photometric, np.ascontiguousarray(crop[:, :, 2::-1]),
                                     t.photometric_seed)
            image_chw = normalize_crop(crop, bgr=False, scratch=self._scratch)
        else:
            image_chw = normalize_crop(crop, bgr=True, scratch=self._scratch)
        target, weight = encode_heatmaps(joints, visible & (not corrupt), self.image_size,
                                         self.heatmap_size, self.sigma, self.target_encoding)
        if self.joint_weights is not None:
            weight = weight * self.joint_weights
        return {
            "image": torch.from_numpy(image_chw),
            "target": torch.from_numpy(target),
            "target_weight": torch.from_numpy(weight[:, None]),
            "center": np.asarray(t.center, dtype=np.float32),
            "scale": np.asarray(t.scale, dtype=np.float32),
            "score": float(rec.score),
            "image_id": int(rec.image_id),
            "index": int(index),
            "corrupt": bool(corrupt),
        }


def worker_init(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=worker_init)``: one OpenCV and one torch thread per worker.

    Each worker is already one process per core; OpenCV's and torch's own thread pools inside
    it would only oversubscribe the cores. Randomness needs no seeding here: items draw from
    ``default_rng([seed, epoch, index])``.
    """
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


MAX_AUTO_WORKERS = 16


def loader_workers(requested: int, processes_per_node: Optional[int] = None, cpus: Optional[int] = None) -> int:
    """DataLoader workers for ``data.num_workers``: ``requested`` if >= 0; for -1, the CPUs this
    process may use divided among ``processes_per_node`` (DDP ranks on the node; default
    torchrun's ``LOCAL_WORLD_SIZE``, else 1), less one core
    for the process that trains, capped at ``MAX_AUTO_WORKERS`` (HRNet's COCO configs use 24
    for 4 GPUs). A small model on a GPU consumes crops far faster than 2 workers make them."""
    if requested >= 0:
        return requested
    if processes_per_node is None:
        processes_per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(cpus // max(processes_per_node, 1) - 1, MAX_AUTO_WORKERS))


def build_dataset(cfg, split: str, boxes: str = "gt", det_file=None) -> TopDownDataset:
    """Build the dataset of ``split`` from an ``ExperimentConfig``.

    Args:
        cfg: ``posedy.config.ExperimentConfig``.
        split: ``"train"`` (augmented) or ``"val"`` (plain crops).
        boxes: ``"gt"`` for annotated boxes or ``"det"`` for detector boxes (val only).
        det_file: detection JSON overriding ``cfg.data.det_file``.
    Raises:
        ValueError: unknown split or boxes; DataError: a bad input file.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r} is not one of train, val")
    if boxes not in ("gt", "det"):
        raise ValueError(f"boxes {boxes!r} is not one of gt, det")
    if boxes == "det" and split != "val":
        raise ValueError("detection boxes are only used for the val split")
    data = cfg.data
    ann_file = data.resolve(f"{split}_ann")
    image_dir = data.resolve(f"{split}_images")
    num_joints = cfg.model.num_joints
    # The val split is scored by COCOeval, whose fields are checked now rather than after an epoch.
    coco = load_coco(ann_file, num_joints, for_evaluation=(split == "val"))
    outside = data.allow_outside_image_paths
    if boxes == "gt":
        records = load_person_records(coco, image_dir, data.image_size, padding=data.box_padding,
                                      ann_file=ann_file, num_joints=num_joints, box_rule=data.gt_box_rule,
                                      allow_outside=outside)
    else:
        det_path = det_file if det_file is not None else data.resolve("det_file")
        records = load_detection_records(det_path, coco, image_dir, cfg.test.det_score_thr, data.image_size,
                                         padding=data.box_padding, num_joints=num_joints,
                                         clip=cfg.test.clip_det_boxes, allow_outside=outside)
    return TopDownDataset(
        records, data.image_size, data.heatmap_size, data.sigma, train=(split == "train"),
        scale_factor=data.augment.scale_factor, rotation_factor=data.augment.rotation_factor,
        rotation_prob=data.augment.rotation_prob, flip_prob=data.augment.flip_prob if data.augment.flip else 0.0,
        half_body_prob=data.augment.half_body_prob, half_body_min_joints=data.augment.half_body_min_joints,
        upper_body_prob=data.augment.upper_body_prob, photometric=data.augment.photometric, seed=cfg.train.seed,
        joint_weights=COCO_JOINT_WEIGHTS[:num_joints] if data.use_joint_weights else None,
        skip_corrupt_images=data.skip_corrupt_images, coco=coco, ann_file=ann_file,
        target_encoding=data.target_encoding)
