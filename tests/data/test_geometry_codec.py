import cv2
import numpy as np
import pytest

from posedy.data.codec import (HeatmapCodec, decode_heatmaps, encode_heatmaps, get_heatmap_maximum,
                               refine_dark, refine_quarter_offset)
from posedy.data.geometry import (apply_affine, box_to_center_scale, get_affine_transform,
                                  heatmap_to_image, invert_affine)


def test_box_to_center_scale_widens_tall_box():
    center, scale = box_to_center_scale((10, 20, 30, 80), aspect_ratio=0.75, padding=1.25)
    np.testing.assert_allclose(center, [25.0, 60.0])
    np.testing.assert_allclose(scale, [60.0 * 1.25, 80.0 * 1.25])


def test_box_to_center_scale_heightens_wide_box():
    _, scale = box_to_center_scale((0, 0, 90, 30), aspect_ratio=0.75, padding=1.0)
    np.testing.assert_allclose(scale, [90.0, 120.0])


def test_affine_maps_center_and_corners():
    mat = get_affine_transform((100.0, 50.0), (96.0, 128.0), 0.0, (192, 256))
    np.testing.assert_allclose(apply_affine([[100.0, 50.0]], mat), [[96.0, 128.0]])
    np.testing.assert_allclose(apply_affine([[52.0, -14.0]], mat), [[0.0, 0.0]])


def test_affine_rotation_90_degrees():
    mat = get_affine_transform((0.0, 0.0), (10.0, 10.0), 90.0, (10, 10))
    # Counter-clockwise on screen (y down): a point to the right moves up.
    np.testing.assert_allclose(apply_affine([[1.0, 0.0]], mat), [[5.0, 4.0]], atol=1e-12)


def test_affine_flip_and_inverse_round_trip():
    mat = get_affine_transform((30.0, 40.0), (48.0, 64.0), 17.0, (192, 256), flip=True)
    pts = np.array([[3.0, 4.0], [100.0, -7.5]])
    back = apply_affine(apply_affine(pts, mat), invert_affine(mat))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    flat = get_affine_transform((30.0, 40.0), (48.0, 64.0), 0.0, (192, 256), flip=True)
    np.testing.assert_allclose(apply_affine([[30.0, 40.0]], flat), [[95.0, 128.0]])


def test_heatmap_to_image_matches_inverse_affine():
    center, scale = np.array([[120.0, 80.0]]), np.array([[75.0, 100.0]])
    coords = np.array([[[10.25, 33.5], [0.0, 0.0]]])
    inv = get_affine_transform(center[0], scale[0], 0.0, (48, 64), inv=True)
    np.testing.assert_allclose(heatmap_to_image(coords, center, scale, (48, 64)),
                               apply_affine(coords, inv), atol=1e-9)


def test_encode_weights_and_peak():
    kps = np.array([[40.0, 80.0], [-100.0, 10.0], [8.0, 8.0]])
    hms, w = encode_heatmaps(kps, [2, 2, 0], (192, 256), (48, 64), 2.0)
    assert hms.shape == (3, 64, 48) and hms.dtype == np.float32
    np.testing.assert_array_equal(w, [1.0, 0.0, 0.0])
    assert hms[0, 20, 10] == pytest.approx(1.0)
    assert hms[0, 20, 11] == pytest.approx(np.exp(-1 / 8))
    assert hms[1].max() == 0 and hms[2].max() == 0


def test_quarter_offset_hand_worked():
    hm = np.zeros((1, 1, 5, 5), dtype=np.float32)
    hm[0, 0, 2, 2] = 1.0
    hm[0, 0, 2, 3] = 0.5
    hm[0, 0, 1, 2] = 0.2
    out = refine_quarter_offset(hm, np.array([[[2.0, 2.0]]]))
    np.testing.assert_allclose(out, [[[2.25, 1.75]]])


@pytest.mark.parametrize("method,tol", [("quarter", 0.25), ("dark", 0.05)])
def test_codec_round_trip(method, tol):
    rng = np.random.default_rng(0)
    codec = HeatmapCodec((192, 256), (48, 64), 2.0)
    # DARK's blur is exact only away from the border, so keep joints 6 heatmap px inside.
    kps = rng.uniform([24, 24], [168, 232], size=(17, 2))
    hms, w = codec.encode(kps, np.ones(17))
    coords, scores = decode_heatmaps(hms[None], method)
    err = np.abs(coords[0] - kps / 4.0)
    assert err.max() <= tol + 1e-6
    np.testing.assert_allclose(scores[0], hms.reshape(17, -1).max(1))


def _naive_dark(hm, px, py, kernel=11):
    """DARK as published: blur the whole map (zero border), rescale to the old max, log, Newton step."""
    border = (kernel - 1) // 2
    padded = np.zeros((hm.shape[0] + 2 * border, hm.shape[1] + 2 * border), np.float32)
    padded[border:-border, border:-border] = hm
    blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:-border, border:-border]
    log = np.log(np.maximum(blurred * (hm.max() / blurred.max()), 1e-10)).astype(np.float64)
    dx = 0.5 * (log[py, px + 1] - log[py, px - 1])
    dy = 0.5 * (log[py + 1, px] - log[py - 1, px])
    dxx = 0.25 * (log[py, px + 2] - 2 * log[py, px] + log[py, px - 2])
    dyy = 0.25 * (log[py + 2, px] - 2 * log[py, px] + log[py - 2, px])
    dxy = 0.25 * (log[py + 1, px + 1] - log[py - 1, px + 1] - log[py + 1, px - 1] + log[py - 1, px - 1])
    hess = np.array([[dxx, dxy], [dxy, dyy]])
    return np.array([px, py], np.float64) - np.linalg.solve(hess, [dx, dy])


def test_dark_matches_whole_map_reference():
    rng = np.random.default_rng(3)
    hms = rng.random((2, 3, 16, 12)).astype(np.float32) * 0.2
    hms[..., 6:10, 4:8] += 1.0  # a broad bump so the peak sits away from the border
    coords, _ = get_heatmap_maximum(hms)
    refined = refine_dark(hms, coords)
    for i in range(2):
        for j in range(3):
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            np.testing.assert_allclose(refined[i, j], _naive_dark(hms[i, j], px, py), atol=1e-4)


def test_encode_equals_per_joint_gaussians_exactly():
    # Each map is the float64 product of the two 1-D Gaussians rounded once to float32
    # (subnormals included): the vectorised encoder must give exactly that.
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(-40, 230, (30, 2)), [[-200.0, 50.0], [100.0, 400.0], [191.0, 255.0]]])
    vis = rng.random(len(kps)) < 0.8
    hms, w = encode_heatmaps(kps, vis, (192, 256), (48, 64), 2.0)
    for k, (x, y) in enumerate(kps / 4.0):
        inside = x + 6 >= 0 and y + 6 >= 0 and x - 6 < 48 and y - 6 < 64
        assert w[k] == float(vis[k] and inside)
        gx = np.exp(-((np.arange(48.0) - x) ** 2) / 8.0)
        gy = np.exp(-((np.arange(64.0) - y) ** 2) / 8.0)
        want = np.outer(gy, gx).astype(np.float32) * np.float32(w[k])
        np.testing.assert_array_equal(hms[k], want)


def test_affine_equals_composed_matrices_exactly():
    # The flip is written out in get_affine_transform; it must equal mirror @ crop exactly.
    rng = np.random.default_rng(0)
    for _ in range(500):
        center, scale = rng.uniform(-50, 700, 2), rng.uniform(10, 900, 2)
        rot = float(rng.choice([0.0, 90.0, -45.0, rng.uniform(-90, 90)]))
        s = 192.0 / scale[0]
        t = np.deg2rad(rot)
        linear = np.array([[np.cos(t) * s, np.sin(t) * s], [-np.sin(t) * s, np.cos(t) * s]])
        crop = np.concatenate([linear, (np.array([96.0, 128.0]) - linear @ center)[:, None]], axis=1)
        mirror = np.array([[-1.0, 0.0, 191.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        np.testing.assert_array_equal(get_affine_transform(center, scale, rot, (192, 256)), crop)
        np.testing.assert_array_equal(get_affine_transform(center, scale, rot, (192, 256), flip=True),
                                      (mirror @ np.vstack([crop, [0.0, 0.0, 1.0]]))[:2])
