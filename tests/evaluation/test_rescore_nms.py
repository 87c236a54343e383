"""Final poses: rescoring, then OKS-NMS per image (posedy.evaluation.rescore_nms)."""

import numpy as np

from posedy.evaluation.rescore_nms import select_final_poses


def test_select_final_poses_rescores_then_suppresses():
    kps = np.zeros((3, 17, 3))
    kps[..., 2] = 0.5
    kps[2, :, 0] = 300.0  # far from the others
    out = select_final_poses(kps, [0.9, 0.8, 0.6], [1e4, 1e4, 1e4], [5, 5, 5])
    np.testing.assert_array_equal(out["index"], [0, 2])
    np.testing.assert_allclose(out["scores"], [0.45, 0.3])
    np.testing.assert_array_equal(out["image_ids"], [5, 5])
    assert len(select_final_poses(kps, [0.9, 0.8, 0.6], [1e4] * 3, [5] * 3, nms=False)["index"]) == 3
