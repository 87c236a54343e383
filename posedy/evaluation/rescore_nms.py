"""Final poses of an evaluation: every instance rescored, then OKS-NMS among the instances of
each image (HRNet's order of the two steps). Pure NumPy; the results file is written by
``posedy.evaluation.results``."""

import numpy as np

from posedy.data.keypoints import COCO_SIGMAS
from posedy.evaluation.nms import oks_nms_grouped
from posedy.evaluation.rescore import rescore


def select_final_poses(keypoints, box_scores, areas, image_ids, *, keypoint_thr: float = 0.2,
                       oks_thr: float = 0.9, sigmas=COCO_SIGMAS, nms: bool = True,
                       tie_order: str = "hrnet"):
    """Rescore every instance and keep the OKS-NMS survivors of each image.

    Args:
        keypoints: (N, K, 3) image ``(x, y, score)``.
        box_scores: (N,) box scores; areas: (N,) padded crop areas ``scale_w * scale_h``;
        image_ids: (N,) integer image ids.
        keypoint_thr: joint-score threshold of the rescoring rule.
        oks_thr: OKS-NMS threshold; nms: False keeps every instance.
        tie_order: OKS-NMS order among equal scores, ``"hrnet"`` or ``"stable"``
            (``posedy.evaluation.nms.oks_nms_grouped``).
    Returns:
        dict with ``index`` (M,) int64 indices of the kept instances (by image id, then
        descending score), ``keypoints`` (M, K, 3), ``scores`` (M,) float64 and
        ``image_ids`` (M,) int64.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    image_ids = np.asarray(image_ids).astype(np.int64).reshape(-1)
    scores = rescore(box_scores, keypoints[..., 2], keypoint_thr)
    if nms:
        index = oks_nms_grouped(keypoints, scores, areas, image_ids, oks_thr, sigmas, tie_order=tie_order)
    else:
        index = np.lexsort((-scores, image_ids))
    return {"index": index, "keypoints": keypoints[index], "scores": scores[index],
            "image_ids": image_ids[index]}
