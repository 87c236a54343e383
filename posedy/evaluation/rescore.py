"""Instance rescoring before OKS-NMS (HRNet / SimpleBaseline rule)."""

import numpy as np


def rescore(box_scores, joint_scores, threshold: float = 0.2):
    """Instance score = box score x mean of the joint scores above ``threshold``.

    Only joints with score strictly greater than ``threshold`` count. When no joint
    passes, HRNet leaves the joint term at its initial 0, so the instance score is 0
    (not the box score): such a pose still goes through NMS and into the results, ranked
    last. We keep that rule so numbers match HRNet's evaluation.

    Args:
        box_scores: (N,) detector (or 1.0 ground-truth) box scores.
        joint_scores: (N, K) per-joint confidences (heatmap maxima).
        threshold: joints at or below it are ignored.
    Returns:
        (N,) float64 instance scores.
    """
    joint_scores = np.asarray(joint_scores, dtype=np.float64)
    box_scores = np.asarray(box_scores, dtype=np.float64).reshape(-1)
    valid = joint_scores > threshold
    count = valid.sum(axis=1)
    total = np.where(valid, joint_scores, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return box_scores * mean
