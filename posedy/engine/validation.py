"""Validation during training: COCO keypoint AP on ground-truth boxes.

A thin adapter over ``posedy.evaluation.inference`` (the same ``predict`` that
``tools/test.py`` uses), so training-time AP and test-time AP come from one code path.
"""

from pathlib import Path

import torch

from posedy.data.keypoints import COCO_FLIP_PAIRS


def build_validator(cfg, device: torch.device, work_dir):
    """A ``model -> metrics dict`` callable for the val split with ground-truth boxes.

    Uses ``test.flip``, ``test.shift_heatmap``, ``test.post_process``, ``test.batch_size``,
    ``test.keypoint_score_thr``, ``test.oks_thr`` and ``test.nms_tie_order``; writes the detections it scores to
    ``work_dir/val_results.json`` (atomically).
    Returns:
        callable(model) -> dict of COCO metrics (``"AP"``, ``"AP .5"``, ...).
    """
    from posedy.data import build_dataset, loader_workers
    from posedy.evaluation.inference import evaluate_predictions, predict

    dataset = build_dataset(cfg, "val", boxes="gt")
    flip_pairs = [pair for pair in COCO_FLIP_PAIRS if max(pair) < cfg.model.num_joints]
    results_file = Path(work_dir) / "val_results.json"
    test = cfg.test
    num_workers = loader_workers(cfg.data.num_workers)

    def validate(model) -> dict:
        loader = torch.utils.data.DataLoader(dataset, batch_size=test.batch_size, shuffle=False,
                                             num_workers=num_workers, pin_memory=device.type == "cuda")
        predictions = predict(model, loader, flip_pairs, flip=test.flip, shift=test.shift_heatmap,
                              method=test.post_process, device=device)
        return evaluate_predictions(predictions, dataset.coco, results_file,
                                    keypoint_thr=test.keypoint_score_thr, oks_thr=test.oks_thr,
                                    tie_order=test.nms_tie_order)

    return validate
