"""Pictures of whole images: predicted poses, optionally beside the ground truth."""

import numpy as np

from posedy.vis.draw import draw_box, draw_pose, put_title, side_by_side

GT_BOX_COLOR = (60, 200, 60)
PRED_BOX_COLOR = (255, 200, 0)


def group_results_by_image(results) -> dict:
    """COCO keypoint results grouped per image id, each group by descending score.

    Args:
        results: list of ``{"image_id", "keypoints": [x, y, s, ...], "score"}``.
    Returns:
        ``{image_id: (keypoints (M, K, 3) float64, scores (M,) float64)}``.
    """
    groups = {}
    for entry in results:
        groups.setdefault(entry["image_id"], []).append(entry)
    out = {}
    for image_id, entries in groups.items():
        entries = sorted(entries, key=lambda e: -float(e["score"]))
        kps = np.array([e["keypoints"] for e in entries], dtype=np.float64).reshape(len(entries), -1, 3)
        out[image_id] = (kps, np.array([float(e["score"]) for e in entries]))
    return out


def draw_predictions(image, keypoints, scores=None, *, joint_thr: float = 0.3, min_score: float = 0.0,
                     boxes=None, label_scores: bool = True):
    """Draw predicted poses (and their boxes) on an image.

    Args:
        image: (H, W, 3) uint8 BGR.
        keypoints: (M, K, 3) ``(x, y, joint score)``; scores: (M,) instance scores or None.
        joint_thr: joints below it are hidden; min_score: instances below it are skipped.
        boxes: (M, 4) optional ``(x, y, w, h)`` boxes to draw.
    Returns:
        (H, W, 3) uint8 BGR copy.
    """
    out = image
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    for i, kps in enumerate(keypoints):
        score = None if scores is None else float(scores[i])
        if score is not None and score < min_score:
            continue
        if boxes is not None:
            label = f"{score:.2f}" if (label_scores and score is not None) else ""
            out = draw_box(out, boxes[i], PRED_BOX_COLOR, label)
        out = draw_pose(out, kps, threshold=joint_thr)
    return out if out is not image else image.copy()


def draw_ground_truth(image, annotations):
    """Draw COCO ground-truth annotations: boxes and labelled joints (visibility > 0).

    Args:
        image: (H, W, 3) uint8 BGR; annotations: COCO annotation dicts of one image.
    Returns:
        (H, W, 3) uint8 BGR copy.
    """
    out = image.copy()
    for ann in annotations:
        out = draw_box(out, ann["bbox"], GT_BOX_COLOR)
        if ann.get("num_keypoints", 0) > 0:
            kps = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
            # Visibility 1 (occluded) and 2 (visible) both count as labelled.
            kps[:, 2] = (kps[:, 2] > 0).astype(np.float64)
            out = draw_pose(out, kps, threshold=0.5)
    return out


def compare_with_ground_truth(image, keypoints, scores, annotations, *, joint_thr: float = 0.3,
                              min_score: float = 0.0):
    """Ground truth (left) beside predictions (right), each titled.

    Returns:
        (H, 2W + gap, 3) uint8 BGR.
    """
    gt = put_title(draw_ground_truth(image, annotations), f"ground truth ({len(annotations)})")
    shown = int(np.sum(np.asarray(scores) >= min_score)) if len(scores) else 0
    pred = put_title(draw_predictions(image, keypoints, scores, joint_thr=joint_thr, min_score=min_score),
                     f"predictions ({shown})")
    return side_by_side([gt, pred])
