import numpy as np
import pytest

from posedy.data.keypoints import COCO_SIGMAS
from posedy.evaluation.nms import oks_matrix, oks_nms, oks_nms_grouped, oks_one_to_many

ONE_SIGMA = np.array([0.5])  # (2 * sigma)^2 = 1 keeps the hand-worked numbers simple


def test_oks_one_to_many_hand_worked():
    # d^2 = 2; mean area 4 -> e = 2 / 1 / 4 / 2 = 0.25; mean area 2 -> e = 0.5.
    out = oks_one_to_many([[0.0, 0.0]], [[[1.0, 1.0]], [[1.0, 1.0]], [[0.0, 0.0]]], 4.0,
                          [4.0, 0.0, 9.0], ONE_SIGMA)
    np.testing.assert_allclose(out, [np.exp(-0.25), np.exp(-0.5), 1.0], rtol=1e-12)


def test_oks_averages_over_all_joints_and_ignores_scores():
    pose = np.array([[0.0, 0.0, 0.9], [0.0, 0.0, 0.0]])
    other = np.array([[[0.0, 0.0, 0.1], [2.0, 0.0, 0.0]]])
    # Joint 1: d^2 = 4, area 2 -> e = 4 / 1 / 2 / 2 = 1; joint 0 matches exactly.
    out = oks_one_to_many(pose, other, 2.0, [2.0], np.array([0.5, 0.5]))
    np.testing.assert_allclose(out, [(1.0 + np.exp(-1.0)) / 2], rtol=1e-12)


def test_oks_matrix_matches_one_to_many():
    rng = np.random.default_rng(0)
    poses = rng.uniform(0, 100, (6, 17, 3))
    areas = rng.uniform(100, 5000, 6)
    mat = oks_matrix(poses, areas)
    for i in range(6):
        np.testing.assert_allclose(mat[i], oks_one_to_many(poses[i], poses, areas[i], areas), rtol=1e-12)
    np.testing.assert_allclose(mat, mat.T)


def test_oks_nms_suppresses_greedily():
    # A-B and B-C overlap (OKS 0.923), A-C does not (0.726). B is suppressed by A, so it
    # must not suppress C: greedy NMS keeps A and C.
    poses = np.array([[[0.0, 0.0]], [[0.4, 0.0]], [[0.8, 0.0]]])
    areas = np.ones(3)
    assert oks_one_to_many(poses[0], poses[1:], 1.0, areas[1:], ONE_SIGMA) == pytest.approx(
        [np.exp(-0.08), np.exp(-0.32)])
    keep = oks_nms(poses, [0.9, 0.8, 0.7], areas, 0.9, ONE_SIGMA)
    np.testing.assert_array_equal(keep, [0, 2])
    # Order of the input does not matter, only the scores; output is by descending score.
    keep = oks_nms(poses[::-1], [0.7, 0.8, 0.9], areas, 0.9, ONE_SIGMA)
    np.testing.assert_array_equal(keep, [2, 0])
    # OKS exactly at the threshold is kept (HRNet keeps oks <= thr).
    keep = oks_nms(poses[:2], [0.9, 0.8], areas[:2], np.exp(-0.08), ONE_SIGMA)
    np.testing.assert_array_equal(keep, [0, 1])


def test_oks_nms_grouped_keeps_images_apart():
    poses = np.zeros((3, 1, 2))
    keep = oks_nms_grouped(poses, [0.5, 0.9, 0.7], np.ones(3), [7, 3, 7], 0.9, ONE_SIGMA)
    np.testing.assert_array_equal(keep, [1, 2])  # image 3 first, then image 7's best
    assert oks_nms_grouped(np.zeros((0, 17, 3)), [], [], [], 0.9).shape == (0,)


def _naive_oks_nms(poses, scores, areas, thr):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order
                 if oks_one_to_many(poses[i], poses[[j]], areas[i], areas[[j]])[0] <= thr]
    return keep


def test_oks_nms_grouped_equals_naive_per_image():
    rng = np.random.default_rng(1)
    n = 400
    image_ids = rng.integers(0, 40, n)
    # Clustered poses so that NMS has real work: people jittered around a few centres.
    centres = rng.uniform(0, 500, (40, 3, 1, 2))
    who = rng.integers(0, 3, n)
    poses = centres[image_ids, who] + rng.normal(0, 3, (n, 17, 2)) + rng.normal(0, 20, (1, 17, 2))
    areas = rng.uniform(2000, 20000, n)
    scores = rng.random(n)
    keep = oks_nms_grouped(poses, scores, areas, image_ids, 0.9, COCO_SIGMAS, max_pairs=300)
    expected = []
    for img in np.unique(image_ids):
        idx = np.flatnonzero(image_ids == img)
        expected += [idx[k] for k in _naive_oks_nms(poses[idx], scores[idx], areas[idx], 0.9)]
    np.testing.assert_array_equal(keep, expected)
    assert 0.2 * n < len(keep) < 0.9 * n  # the case is not trivial


def test_tied_scores_follow_hrnet_argsort_or_input_order():
    # Poses 0 and 2 coincide (OKS 1) and tie at 0.5; pose 1 is far away. HRNet visits
    # scores.argsort()[::-1], here [1, 2, 0]: pose 2 survives, pose 0 is suppressed. The
    # "stable" order visits [1, 0, 2] and keeps pose 0 instead.
    poses = np.array([[[0.0, 0.0]], [[50.0, 50.0]], [[0.0, 0.0]]])
    scores = np.array([0.5, 0.9, 0.5])
    hrnet_order = scores.argsort()[::-1].tolist()
    keep = oks_nms(poses, scores, np.ones(3), 0.9, ONE_SIGMA).tolist()
    assert keep == [i for i in hrnet_order if i != hrnet_order[2]]
    assert oks_nms(poses, scores, np.ones(3), 0.9, ONE_SIGMA, tie_order="stable").tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown NMS tie order 'random'"):
        oks_nms(poses, scores, np.ones(3), 0.9, ONE_SIGMA, tie_order="random")
