"""Validation during training: COCO keypoint AP on ground-truth boxes.

A builder over ``posedy.evaluation.evaluator.evaluate`` (the entry point ``tools/test.py``
uses too), so training-time AP and test-time AP come from one code path.
"""

from pathlib import Path

import torch


def build_validator(cfg, device: torch.device, work_dir):
    """A ``model -> metrics dict`` callable for the val split with ground-truth boxes.

    Uses ``test.flip``, ``test.shift_heatmap``, ``test.post_process``, ``test.batch_size``,
    ``test.keypoint_score_thr``, ``test.oks_thr`` and ``test.nms_tie_order``
    (``posedy.evaluation.evaluator.build_eval_settings``); writes the detections it scores to
    ``work_dir/val_results.json`` (atomically).
    Returns:
        callable(model) -> dict of COCO metrics (``"AP"``, ``"AP .5"``, ...).
    """
    from posedy.data import build_dataset
    from posedy.evaluation.evaluator import build_eval_settings, evaluate

    dataset = build_dataset(cfg, "val", boxes="gt")
    settings = build_eval_settings(cfg)
    results_file = Path(work_dir) / "val_results.json"

    def validate(model) -> dict:
        return evaluate(model, dataset, settings, results_file, device=device).metrics

    return validate
