"""Object keypoint similarity (OKS) and greedy OKS-NMS, vectorised with NumPy.

The OKS here is the one HRNet's NMS uses, not the COCO metric's: every joint counts
(no visibility test) and the area is the mean of the two instances' areas, where an
instance's area is its padded crop region ``scale_w * scale_h`` in image pixels::

    e_k = (dx_k^2 + dy_k^2) / (2 sigma_k)^2 / ((area_a + area_b) / 2 + eps) / 2
    oks = mean_k exp(-e_k)

OKS is symmetric in the two poses, so one ``(n, n)`` matrix per image serves the whole
greedy pass. ``oks_nms_grouped`` runs the pass for all images at once: images with the
same number of candidates are stacked into one ``(g, n, n)`` block, so the Python loop
runs over candidate ranks, not over images or instances.
"""

import numpy as np

from posedy.data.keypoints import COCO_SIGMAS

# HRNet adds np.spacing(1) to the area so that a zero-area pair does not divide by zero.
_EPS = np.spacing(1)
_MAX_EXPONENT = 50.0


def oks_one_to_many(pose, poses, area: float, areas, sigmas=COCO_SIGMAS):
    """OKS between one pose and many.

    Args:
        pose: (K, 2) or (K, 3) ``(x, y[, score])``; the score column is ignored.
        poses: (M, K, 2) or (M, K, 3).
        area: area of ``pose``; areas: (M,) areas of ``poses``.
        sigmas: (K,) per-joint OKS sigmas.
    Returns:
        (M,) float64 OKS in (0, 1].
    """
    pose = np.asarray(pose, dtype=np.float64)[None, :, :2]
    poses = np.asarray(poses, dtype=np.float64)[..., :2]
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    d2 = (poses[..., 0] - pose[..., 0]) ** 2 + (poses[..., 1] - pose[..., 1]) ** 2
    e = d2 / variances / ((area + areas) / 2 + _EPS)[:, None] / 2
    return np.exp(-np.minimum(e, _MAX_EXPONENT)).mean(axis=1)


def oks_matrix(poses, areas, sigmas=COCO_SIGMAS):
    """Pairwise OKS within one or several stacked groups.

    Args:
        poses: (..., n, K, 2+) ``(x, y[, ...])``; areas: (..., n); sigmas: (K,).
    Returns:
        (..., n, n) float64 symmetric OKS matrix (ones on the diagonal).
    """
    poses = np.asarray(poses, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    x, y = poses[..., 0], poses[..., 1]
    # In-place arithmetic: the (..., n, n, K) temporaries dominate the cost of OKS-NMS.
    e = x[..., :, None, :] - x[..., None, :, :]
    e *= e
    dy = y[..., :, None, :] - y[..., None, :, :]
    dy *= dy
    e += dy
    del dy
    e /= variances
    e /= ((areas[..., :, None] + areas[..., None, :]) / 2 + _EPS)[..., None]
    e /= 2
    # exp(-e) for e past ~700 takes libm's slow underflow path (5x slower on far-apart
    # poses); exp(-50) < 2e-22 is already nothing next to any OKS threshold.
    np.minimum(e, _MAX_EXPONENT, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    return e.mean(axis=-1)


def _greedy_keep(over):
    """Greedy suppression on rank-ordered candidates.

    Args:
        over: (g, n, n) bool, ``over[b, i, j]``: candidate ``i`` suppresses ``j`` if kept.
            Candidates are already sorted by descending score within each group.
    Returns:
        (g, n) bool keep mask.
    """
    g, n, _ = over.shape
    alive = np.ones((g, n), dtype=bool)
    for r in range(n - 1):
        # alive[:, r] is final here: only higher-ranked candidates can suppress r.
        alive[:, r + 1:] &= ~(over[:, r, r + 1:] & alive[:, r:r + 1])
    return alive


NMS_TIE_ORDERS = ("hrnet", "stable")


def _visiting_order(scores, group_ids, tie_order: str):
    """Candidates by group id, then by descending score with ties broken by ``tie_order``.

    ``"hrnet"`` ranks each group as HRNet's ``oks_nms`` does, ``scores.argsort()[::-1]``
    over the group's candidates in input order (NumPy's default sort, which is not stable:
    the same call gives the same order, so the same poses survive); ``"stable"`` keeps
    input order among equal scores on any NumPy.

    Returns:
        (N,) int64 permutation of the inputs.
    """
    if tie_order == "stable":
        return np.lexsort((-scores, group_ids))
    if tie_order != "hrnet":
        raise ValueError(f"unknown NMS tie order {tie_order!r}; valid: {', '.join(NMS_TIE_ORDERS)}")
    by_group = np.argsort(group_ids, kind="stable")
    sorted_groups = group_ids[by_group]
    bounds = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1], True])
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        members = by_group[lo:hi]
        parts.append(members[scores[members].argsort()[::-1]])
    return np.concatenate(parts).astype(np.int64)


def oks_nms_grouped(poses, scores, areas, group_ids, threshold: float = 0.9,
                    sigmas=COCO_SIGMAS, max_pairs: int = 1 << 15, tie_order: str = "hrnet"):
    """Greedy OKS-NMS applied independently within each group (image), all groups at once.

    Within a group, candidates are visited by descending score (ties: see
    ``tie_order``); a candidate is kept unless a kept, higher-ranked one has OKS
    ``> threshold`` with it (HRNet keeps ``oks <= threshold``).

    Args:
        poses: (N, K, 2+) ``(x, y[, ...])`` image coordinates.
        scores: (N,) instance scores; areas: (N,) instance areas.
        group_ids: (N,) integer image ids.
        threshold: OKS above which the lower-scored pose is suppressed.
        sigmas: (K,) OKS sigmas.
        max_pairs: bound on ``groups x n x n`` stacked at once (memory: about
            ``max_pairs * K * 8`` bytes per temporary).
        tie_order: ``"hrnet"`` or ``"stable"`` (see ``_visiting_order``).
    Returns:
        (M,) int64 indices into the inputs of the kept poses, ordered by group id, then in
        visiting order (descending score; HRNet's order, which the COCO metric uses to
        break its own ties between equal scores).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    num = scores.shape[0]
    if num == 0:
        return np.zeros(0, dtype=np.int64)
    poses = np.asarray(poses, dtype=np.float64)[..., :2]
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    group_ids = np.asarray(group_ids).reshape(-1)
    order = _visiting_order(scores, group_ids, tie_order)
    sorted_groups = group_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    counts = np.diff(np.r_[starts, num])
    poses, areas = poses[order], areas[order]
    keep = np.ones(num, dtype=bool)
    for size in np.unique(counts):
        if size == 1:
            continue
        group_starts = starts[counts == size]
        per_chunk = max(1, max_pairs // int(size * size))
        for lo in range(0, len(group_starts), per_chunk):
            idx = group_starts[lo:lo + per_chunk, None] + np.arange(size)
            over = oks_matrix(poses[idx], areas[idx], sigmas) > threshold
            keep[idx] = _greedy_keep(over)
    return order[keep]


def oks_nms(poses, scores, areas, threshold: float = 0.9, sigmas=COCO_SIGMAS, tie_order: str = "hrnet"):
    """Greedy OKS-NMS over the poses of one image.

    Args:
        poses: (N, K, 2+); scores: (N,); areas: (N,); threshold, sigmas, tie_order: see
            ``oks_nms_grouped``.
    Returns:
        (M,) int64 indices of the kept poses, in visiting order (descending score).
    """
    num = np.asarray(scores).reshape(-1).shape[0]
    return oks_nms_grouped(poses, scores, areas, np.zeros(num, dtype=np.int64), threshold, sigmas,
                           tie_order=tie_order)
