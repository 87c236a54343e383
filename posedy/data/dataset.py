"""The top-down dataset: one person crop, its heatmap targets and its metadata per item.

``TopDownDataset.__getitem__`` is the whole recipe: read the image, draw the sample's
transform (``posedy.data.augment``), warp once and map the joints (``posedy.data.crop``),
encode the targets (``posedy.data.codec``), normalise. ``build_dataset`` (with
``build_augment_policy``) is the only code in ``posedy.data`` that reads a config.
"""

import os
from typing import Optional

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from posedy.data.augment import AugmentPolicy, apply_photometric, build_photometric
from posedy.data.codec import HeatmapCodec
from posedy.data.coco import DataError, load_coco, load_detection_records, load_person_records
from posedy.data.crop import CropScratch, CropTransform, crop_image, normalize_crop, transform_keypoints
from posedy.data.keypoints import COCO_JOINT_WEIGHTS
from posedy.data.seeding import SampleRng


def read_image(path):
    """Decode an image file as BGR uint8 (H, W, 3), or None if missing or undecodable.

    EXIF orientation is ignored, as in COCO's annotations (and HRNet).
    """
    return cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


class TopDownDataset(Dataset):
    """Person crops for top-down pose estimation.

    Args:
        records: list of ``PersonRecord``.
        codec: ``posedy.data.codec.HeatmapCodec``: the crop ``image_size`` ``(w, h)`` and the
            target encoding (heatmap size, sigma, ``"hrnet"`` or ``"subpixel"``).
        policy: ``posedy.data.augment.AugmentPolicy`` drawing a random transform per sample
            (training), for crops of ``codec.image_size`` and joints as in ``records``; None
            crops each record's box as it is (validation).
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

    def __init__(self, records, codec: HeatmapCodec, policy: Optional[AugmentPolicy] = None, *,
                 seed: int = 0, joint_weights=None, skip_corrupt_images: bool = False,
                 coco=None, ann_file=None):
        self.records = list(records)
        self.codec = codec
        self.policy = policy
        if policy is not None:
            if tuple(policy.image_size) != tuple(codec.image_size):
                raise ValueError(f"the policy's image_size {tuple(policy.image_size)} is not the codec's "
                                 f"{tuple(codec.image_size)}")
            joints = int(self.records[0].keypoints.shape[0]) if self.records else policy.num_joints
            if joints != policy.num_joints:
                raise ValueError(f"the policy is for {policy.num_joints} joints, the records have {joints}")
        # A flip (training only) makes joint j of the crop joint flip_perm[j] of the person.
        self.flip_perm = None if policy is None else policy.flip_perm
        self.seed = int(seed)
        self.epoch = 0
        self.joint_weights = None if joint_weights is None else np.asarray(joint_weights, np.float32)
        self.skip_corrupt_images = bool(skip_corrupt_images)
        self.coco = coco
        self.ann_file = None if ann_file is None else str(ann_file)
        self._photometric = build_photometric() if (policy is not None and policy.photometric) else None
        # Counts corrupt images seen by *this process*; with workers, sum items' ``corrupt``.
        self.corrupt_count = 0
        self._make_thread_state()

    def _make_thread_state(self) -> None:
        # Per-thread: the reused sample generator (the state of
        # np.random.default_rng([seed, epoch, index]), see seeding.py) and the crop buffers.
        self._rng = SampleRng()
        self._scratch = CropScratch(self.image_size)

    def __getstate__(self):
        # Thread-local objects do not pickle (DataLoader workers under spawn).
        state = self.__dict__.copy()
        del state["_rng"], state["_scratch"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._make_thread_state()

    @property
    def train(self) -> bool:
        """Whether items are augmented (a policy was given)."""
        return self.policy is not None

    @property
    def image_size(self) -> tuple:
        """The crop ``(w, h)`` (the codec's)."""
        return self.codec.image_size

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (call before each training epoch)."""
        self.epoch = int(epoch)

    def draw_transform(self, index: int) -> CropTransform:
        """The transform item ``index`` gets in the current epoch (the record's box without a policy)."""
        rec = self.records[index]
        if self.policy is None:
            return CropTransform(center=rec.center, scale=rec.scale)
        rng = self._rng([self.seed, self.epoch, int(index)])
        return self.policy.sample(rng, rec.keypoints[:, :2], rec.keypoints[:, 2], rec.center, rec.scale)

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        image = read_image(rec.image_path)
        corrupt = image is None
        if corrupt:
            if not self.skip_corrupt_images:
                raise DataError(f"{rec.image_path}: missing or not a decodable image")
            self.corrupt_count += 1
        size = self.image_size
        t = self.draw_transform(index)
        mat = t.matrix(size)
        if corrupt:
            crop = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        else:
            crop = crop_image(image, mat, size, self._scratch)
        joints, visible = transform_keypoints(rec.keypoints[:, :2], rec.keypoints[:, 2] > 0, mat, t.flip,
                                              self.flip_perm)
        if self._photometric is not None and not corrupt:
            crop = apply_photometric(self._photometric, np.ascontiguousarray(crop[:, :, 2::-1]),
                                     t.photometric_seed)
            image_chw = normalize_crop(crop, bgr=False, scratch=self._scratch)
        else:
            image_chw = normalize_crop(crop, bgr=True, scratch=self._scratch)
        target, weight = self.codec.encode(joints, visible & (not corrupt))
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
        split: ``"train"`` (augmented by the policy of ``cfg.data.augment``) or ``"val"`` (plain crops).
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
        records, HeatmapCodec(data.image_size, data.heatmap_size, data.sigma, data.target_encoding),
        build_augment_policy(data.augment, data.image_size, num_joints) if split == "train" else None,
        seed=cfg.train.seed, joint_weights=COCO_JOINT_WEIGHTS[:num_joints] if data.use_joint_weights else None,
        skip_corrupt_images=data.skip_corrupt_images, coco=coco, ann_file=ann_file)


def build_augment_policy(augment, image_size, num_joints: int) -> AugmentPolicy:
    """The training policy of a ``data.augment`` section (``posedy.config.AugmentConfig``).

    Args:
        augment: the section; image_size: crop ``(w, h)``; num_joints: K of the records.
    """
    return AugmentPolicy(
        image_size=tuple(image_size), scale_factor=augment.scale_factor, rotation_factor=augment.rotation_factor,
        rotation_prob=augment.rotation_prob, flip_prob=augment.flip_prob if augment.flip else 0.0,
        half_body_prob=augment.half_body_prob, half_body_min_joints=augment.half_body_min_joints,
        upper_body_prob=augment.upper_body_prob, photometric=augment.photometric, num_joints=num_joints)
