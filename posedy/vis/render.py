"""Pictures of whole images: predicted poses, optionally beside the ground truth."""

import numpy as np

from posedy.vis.draw import draw_box, draw_legend, draw_pose, put_title, side_by_side

GT_BOX_COLOR = (60, 200, 60)
PRED_BOX_COLOR = (255, 200, 0)
# A results file has no boxes: its prediction panel boxes the shown joints, grown by this factor
# about their centre so that the box does not run through the outermost joints.
POSE_BOX_PADDING = 1.15


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


def pose_boxes(keypoints, threshold: float = 0.3, padding: float = 1.0) -> np.ndarray:
    """The box around each pose's joints scoring at least ``threshold``.

    Args:
        keypoints: (M, K, 3) ``(x, y, score)``.
        threshold: joints below it (or with score 0, or non-finite) do not count.
        padding: the box's width and height are multiplied by it about the box's centre.
    Returns:
        (M, 4) float64 ``(x, y, w, h)``; NaN for a pose without a counted joint. A single
        joint gives a zero-sized box (before padding) at that joint.
    """
    kps = np.asarray(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    boxes = np.full((len(kps), 4), np.nan)
    for i, pose in enumerate(kps):
        shown = (pose[:, 2] >= threshold) & (pose[:, 2] > 0) & np.isfinite(pose[:, :2]).all(axis=1)
        if shown.any():
            lo, hi = pose[shown, :2].min(axis=0), pose[shown, :2].max(axis=0)
            centre, size = (lo + hi) / 2.0, (hi - lo) * padding
            boxes[i] = [centre[0] - size[0] / 2.0, centre[1] - size[1] / 2.0, size[0], size[1]]
    return boxes


def draw_predictions(image, keypoints, scores=None, *, joint_thr: float = 0.3, min_score: float = 0.0,
                     boxes=None, label_scores: bool = True, legend: bool = False):
    """Draw predicted poses (and their boxes, each labelled with its instance score) on an image.

    Args:
        image: (H, W, 3) uint8 BGR.
        keypoints: (M, K, 3) ``(x, y, joint score)``; scores: (M,) instance scores or None.
        joint_thr: joints below it are hidden; min_score: instances below it are skipped.
        boxes: (M, 4) optional ``(x, y, w, h)`` boxes to draw; a row with a non-finite value is
            skipped (``pose_boxes`` of a pose with no shown joint).
        legend: add the left / right joint-colour key (``draw_legend``).
    Returns:
        (H, W, 3) uint8 BGR copy.
    """
    out = image
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    for i, kps in enumerate(keypoints):
        score = None if scores is None else float(scores[i])
        if score is not None and score < min_score:
            continue
        if boxes is not None and np.isfinite(np.asarray(boxes[i], dtype=np.float64)).all():
            label = f"{score:.2f}" if (label_scores and score is not None) else ""
            out = draw_box(out, boxes[i], PRED_BOX_COLOR, label)
        out = draw_pose(out, kps, threshold=joint_thr)
    if legend:
        out = draw_legend(out)
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


def draw_results(image, keypoints, scores, *, joint_thr: float = 0.3, min_score: float = 0.0):
    """The prediction panel of a results file: poses, the box of each pose's shown joints
    (``pose_boxes``, a results file has no boxes) labelled with its score, and the colour key.

    Args:
        image: (H, W, 3) uint8 BGR; keypoints: (M, K, 3); scores: (M,) instance scores.
    Returns:
        (H, W, 3) uint8 BGR copy.
    """
    boxes = pose_boxes(keypoints, joint_thr, POSE_BOX_PADDING)
    return draw_predictions(image, keypoints, scores, joint_thr=joint_thr, min_score=min_score, boxes=boxes,
                            legend=True)


def compare_with_ground_truth(image, keypoints, scores, annotations, *, joint_thr: float = 0.3,
                              min_score: float = 0.0):
    """Ground truth (left) beside predictions (right, ``draw_results``), each titled.

    Returns:
        (H, 2W + gap, 3) uint8 BGR.
    """
    gt = put_title(draw_ground_truth(image, annotations), f"ground truth ({len(annotations)})")
    shown = int(np.sum(np.asarray(scores) >= min_score)) if len(scores) else 0
    pred = put_title(draw_results(image, keypoints, scores, joint_thr=joint_thr, min_score=min_score),
                     f"predictions ({shown})")
    return side_by_side([gt, pred])
