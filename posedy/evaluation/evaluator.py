"""The evaluation recipe, in one place: the one entry point of ``tools/test.py``, of validation
during training (``posedy.engine.validation``) and of ``tools/inspect_attention.py``.

``evaluate(model, dataset, settings, results_file)`` runs, in order:

1. a loader over the dataset's crops, in dataset order (``evaluation_loader``);
2. the model on every crop and on its mirror image, heatmaps averaged with HRNet's shift, and
   joints decoded to image coordinates (``posedy.evaluation.inference.predict``);
3. rescoring of every instance, then OKS-NMS per image (``posedy.evaluation.rescore_nms``);
4. the COCO results file, written atomically (``posedy.evaluation.results``);
5. COCO keypoint AP/AR of that file (``posedy.evaluation.coco_eval``).

Settings are explicit values (``EvalSettings``); ``build_eval_settings(cfg)`` is the builder
that reads them from an experiment's ``test.*`` keys.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from posedy.data.dataset import loader_workers
from posedy.data.keypoints import COCO_FLIP_PAIRS, flip_pairs_for
from posedy.errors import os_error_reason
from posedy.evaluation.coco_eval import evaluate_coco_keypoints
from posedy.evaluation.inference import predict
from posedy.evaluation.rescore_nms import select_final_poses
from posedy.evaluation.results import write_keypoint_results


class EvaluationError(ValueError):
    """The results file of an evaluation cannot be written or scored; the one-line message names it."""


@dataclass(frozen=True)
class EvalSettings:
    """How a model is evaluated.

    Attributes:
        flip_pairs: ``(left, right)`` joint index pairs of the flip test.
        flip: flip test; shift: HRNet's one-pixel shift of the flipped heatmaps.
        method: heatmap decoding, ``"quarter"``, ``"dark"`` or ``"argmax"``.
        batch_size: crops per forward pass; num_workers: DataLoader worker processes.
        keypoint_thr: joint-score threshold of the rescoring rule.
        oks_thr: OKS-NMS threshold; tie_order: OKS-NMS order among equal scores
            (``"hrnet"`` or ``"stable"``).
    """

    flip_pairs: tuple = COCO_FLIP_PAIRS
    flip: bool = True
    shift: bool = True
    method: str = "quarter"
    batch_size: int = 32
    num_workers: int = 0
    keypoint_thr: float = 0.2
    oks_thr: float = 0.9
    tie_order: str = "hrnet"


def build_eval_settings(cfg, **changes) -> EvalSettings:
    """``EvalSettings`` from an experiment config's ``test.*`` keys (and ``data.num_workers``,
    ``model.num_joints``); ``changes`` replace fields, e.g. ``batch_size=`` of a tool's flag."""
    test = cfg.test
    settings = EvalSettings(
        flip_pairs=flip_pairs_for(cfg.model.num_joints), flip=test.flip, shift=test.shift_heatmap,
        method=test.post_process, batch_size=test.batch_size, num_workers=loader_workers(cfg.data.num_workers),
        keypoint_thr=test.keypoint_score_thr, oks_thr=test.oks_thr, tie_order=test.nms_tie_order)
    return replace(settings, **changes)


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` returns.

    Attributes:
        metrics: COCO keypoint metrics (``posedy.evaluation.coco_eval.METRIC_NAMES``).
        predictions: the output of ``predict`` (every instance, before rescoring and NMS).
        results_file: the COCO results file that was scored.
    """

    metrics: dict
    predictions: dict
    results_file: Path

    @property
    def num_instances(self) -> int:
        return int(len(self.predictions["keypoints"]))

    @property
    def num_corrupt(self) -> int:
        """Instances whose image could not be decoded (``data.skip_corrupt_images``), not scored."""
        return int(self.predictions["corrupt"].sum())


def first_image_ids(dataset, max_images: int) -> list:
    """The ``max_images`` smallest image ids of a top-down dataset (all of them when 0)."""
    ids = np.unique(np.array([r.image_id for r in dataset.records]))
    return (ids[:max_images] if max_images else ids).tolist()


def evaluation_loader(dataset, settings: EvalSettings, *, device=None, image_ids=None):
    """A DataLoader over the dataset's crops in dataset order (only the crops of ``image_ids``
    when given), ``settings.batch_size`` at a time."""
    if image_ids is not None:
        ids = np.array([r.image_id for r in dataset.records])
        dataset = torch.utils.data.Subset(dataset, np.flatnonzero(np.isin(ids, image_ids)).tolist())
    pin = device is not None and torch.device(device).type == "cuda"
    return torch.utils.data.DataLoader(dataset, batch_size=settings.batch_size, shuffle=False,
                                       num_workers=settings.num_workers, pin_memory=pin)


def predict_dataset(model, dataset, settings: EvalSettings, *, device=None, image_ids=None,
                    progress: bool = False) -> dict:
    """Steps 1 and 2: poses of every crop of ``dataset`` (see ``posedy.evaluation.inference.predict``
    for the arrays returned)."""
    loader = evaluation_loader(dataset, settings, device=device, image_ids=image_ids)
    return predict(model, loader, settings.flip_pairs, flip=settings.flip, shift=settings.shift,
                   method=settings.method, device=device, progress=progress)


def evaluate_predictions(predictions: dict, ann, results_file, *, keypoint_thr: float = 0.2,
                         oks_thr: float = 0.9, nms: bool = True, image_ids=None,
                         tie_order: str = "hrnet") -> dict:
    """Steps 3 to 5: rescore, OKS-NMS, write the COCO results file atomically and score it.

    Args:
        predictions: the output of ``predict`` (instances marked ``corrupt`` are dropped).
        ann: annotation file path or pycocotools ``COCO``.
        results_file: where the results JSON goes.
        image_ids: score only these images (see ``evaluate_coco_keypoints``).
        tie_order: OKS-NMS order among equal scores (``test.nms_tie_order``).
    Returns:
        dict of COCO keypoint metrics (``posedy.evaluation.coco_eval.METRIC_NAMES``).
    """
    ok = ~predictions.get("corrupt", np.zeros(len(predictions["keypoints"]), dtype=bool))
    final = select_final_poses(predictions["keypoints"][ok], predictions["box_scores"][ok],
                               predictions["areas"][ok], predictions["image_ids"][ok],
                               keypoint_thr=keypoint_thr, oks_thr=oks_thr, nms=nms, tie_order=tie_order)
    write_keypoint_results(results_file, final["image_ids"], final["keypoints"], final["scores"])
    return evaluate_coco_keypoints(ann, results_file, image_ids=image_ids)


def evaluate(model, dataset, settings: EvalSettings, results_file, *, device=None,
             image_ids: Optional[list] = None, progress: bool = False) -> Evaluation:
    """COCO keypoint AP of a pose model on a top-down dataset (steps 1 to 5 above).

    Args:
        model: ``nn.Module`` (put in eval mode, its training mode restored after) or any callable
            mapping an (N, 3, H, W) float tensor to (N, K, h, w) heatmaps (``OnnxPoseRunner``).
        dataset: a ``TopDownDataset`` of the val split (its ``coco`` holds the ground truth).
        settings: ``EvalSettings`` (``build_eval_settings(cfg)`` from a config).
        results_file: where the COCO results JSON goes (replaced atomically).
        device: where crops go; default the model's device.
        image_ids: evaluate only the crops of these images and score only them.
        progress: a progress bar (on a terminal only).
    Returns:
        ``Evaluation`` with the metrics, the raw predictions and the results file.
    Raises:
        EvaluationError: the results file cannot be written or scored (message names it).
        posedy.data.DataError: a crop's image cannot be read; ValueError: the model's output
        does not fit its input (see ``predict``).
    """
    results_file = Path(results_file)
    predictions = predict_dataset(model, dataset, settings, device=device, image_ids=image_ids,
                                  progress=progress)
    try:
        metrics = evaluate_predictions(predictions, dataset.coco, results_file, keypoint_thr=settings.keypoint_thr,
                                       oks_thr=settings.oks_thr, image_ids=image_ids, tie_order=settings.tie_order)
    except OSError as exc:
        raise EvaluationError(f"{results_file}: cannot write ({os_error_reason(exc)})") from exc
    except ValueError as exc:
        raise EvaluationError(f"{results_file}: {exc}") from exc
    return Evaluation(metrics=metrics, predictions=predictions, results_file=results_file)
