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
def test_codec_round_trip_subpixel(method, tol):
    rng = np.random.default_rng(0)
    codec = HeatmapCodec((192, 256), (48, 64), 2.0, encoding="subpixel")
    # DARK's blur is exact only away from the border, so keep joints 6 heatmap px inside.
    kps = rng.uniform([24, 24], [168, 232], size=(17, 2))
    hms, w = codec.encode(kps, np.ones(17))
    coords, scores = decode_heatmaps(hms[None], method)
    err = np.abs(coords[0] - kps / 4.0)
    assert err.max() <= tol + 1e-6
    np.testing.assert_allclose(scores[0], hms.reshape(17, -1).max(1))


def test_codec_round_trip_hrnet_is_the_rounded_pixel():
    # HRNet's target peaks on the rounded pixel and is symmetric about it, so the quarter
    # step finds equal neighbours and stays: decoding gives back int(p / 4 + 0.5) exactly.
    rng = np.random.default_rng(0)
    kps = rng.uniform([12, 12], [180, 244], size=(17, 2))
    hms, w = HeatmapCodec((192, 256), (48, 64), 2.0).encode(kps, np.ones(17))
    coords, _ = decode_heatmaps(hms[None], "quarter")
    np.testing.assert_array_equal(coords[0], np.trunc(kps / 4.0 + 0.5))
    assert np.abs(coords[0] - kps / 4.0).max() <= 0.5


def test_encode_hrnet_hand_worked():
    # Joint 0 at crop (41, 79) -> heatmap (10.25, 19.75) -> rounded pixel (10, 20).
    # Joint 1 at crop (-3, 10): -0.75 + 0.5 = -0.25 and int() truncates toward zero, so mu_x = 0.
    # Joint 2 at crop (-26, 10): mu_x = int(-6) = -6, window [-12, 1): one column in the map.
    # Joint 3 at crop (-27, 10): mu_x = int(-6.25) = -6 as well (truncation).
    # Joint 4 at crop (-30, 10): mu_x = int(-7) = -7, window [-13, 0): br = 0 is not < 0, so
    # HRNet keeps weight 1 with an empty map.
    # Joint 5 at crop (-34, 10): mu_x = -8, br = -1 < 0: weight 0.
    # Joint 6 at crop (214, 10): mu_x = 54, ul = 48 >= W: weight 0; (210, 10): mu_x = 53, ul = 47.
    kps = np.array([[41.0, 79.0], [-3.0, 10.0], [-26.0, 10.0], [-27.0, 10.0], [-30.0, 10.0],
                    [-34.0, 10.0], [214.0, 10.0], [210.0, 10.0], [41.0, 79.0]])
    hms, w = encode_heatmaps(kps, [2, 1, 1, 1, 1, 1, 1, 1, 0], (192, 256), (48, 64), 2.0)
    np.testing.assert_array_equal(w, [1, 1, 1, 1, 1, 0, 0, 1, 0])
    assert hms[0, 20, 10] == 1.0
    assert hms[0, 20, 11] == pytest.approx(np.exp(-1 / 8), abs=1e-7)
    assert hms[0, 26, 16] == pytest.approx(np.exp(-72 / 8), abs=1e-7)  # window corner (3 sigma)
    assert hms[0, 27, 10] == 0 and hms[0, 20, 17] == 0  # cut outside the 13x13 window
    assert np.count_nonzero(hms[0]) == 13 * 13
    assert hms[1, 3, 0] == 1.0  # peak on column 0, row int(10 / 4 + 0.5) = 3
    assert np.count_nonzero(hms[1]) == 7 * 10  # columns 0..6, rows [3 - 6, 3 + 7) in the map
    assert np.flatnonzero(hms[2].any(axis=0)).tolist() == [0]
    assert hms[2, 3, 0] == pytest.approx(np.exp(-36 / 8), abs=1e-7)
    np.testing.assert_array_equal(hms[3], hms[2])
    assert hms[4].max() == 0 and hms[5].max() == 0 and hms[6].max() == 0 and hms[8].max() == 0
    assert np.flatnonzero(hms[7].any(axis=0)).tolist() == [47]
    assert hms[7, 3, 47] == pytest.approx(np.exp(-36 / 8), abs=1e-7)


def test_encode_hrnet_fractional_radius_keeps_hrnet_window():
    # sigma 1.5: 3 sigma = 4.5, the patch has 10 columns and its peak is at offset 10 // 2 = 5
    # from ul. mu = 10: ul = int(5.5) = 5, peak 10. mu = 2: ul = int(-2.5) = -2, so the peak is
    # at column 3, not 2 (HRNet's truncation toward zero); br = int(7.5) = 7.
    hms, w = encode_heatmaps([[40.0, 40.0], [8.0, 40.0]], [1, 1], (192, 256), (48, 64), 1.5)
    assert hms[0, 10].argmax() == 10 and hms[1, 10].argmax() == 3
    assert np.flatnonzero(hms[0, 10]).tolist() == list(range(5, 15))
    assert np.flatnonzero(hms[1, 10]).tolist() == list(range(0, 7))


def test_encode_rejects_unknown_encoding():
    with pytest.raises(ValueError, match="unknown target encoding 'round'"):
        encode_heatmaps([[1.0, 1.0]], [1], (192, 256), (48, 64), 2.0, "round")


def test_argmax_of_non_positive_map_is_origin():
    hms = np.full((1, 2, 4, 4), -1.0, dtype=np.float32)
    hms[0, 0, 2, 3] = -0.5
    hms[0, 1] = 0.0
    coords, maxvals = get_heatmap_maximum(hms)
    np.testing.assert_array_equal(coords, np.zeros((1, 2, 2)))
    np.testing.assert_array_equal(maxvals, [[-0.5, 0.0]])
    coords, _ = decode_heatmaps(hms, "quarter")
    np.testing.assert_array_equal(coords, np.zeros((1, 2, 2)))


def test_quarter_offset_needs_both_axes_away_from_the_border():
    # HRNet refines only where 1 < px < W - 1 and 1 < py < H - 1, both together.
    hm = np.zeros((1, 4, 6, 5), dtype=np.float32)
    peaks = [(1, 3), (2, 3), (2, 1), (3, 4)]  # (x, y): px = 1; inside; py = 1; inside
    for j, (x, y) in enumerate(peaks):
        hm[0, j, y, x] = 1.0
        hm[0, j, y, x + 1] = 0.5
        hm[0, j, y - 1, x] = 0.5
    out = refine_quarter_offset(hm, np.array([[p for p in peaks]], dtype=np.float32))
    np.testing.assert_allclose(out[0], [[1, 3], [2.25, 2.75], [2, 1], [3.25, 3.75]])
    edge = np.zeros((1, 2, 6, 5), dtype=np.float32)
    edge[0, 0, 3, 3], edge[0, 0, 3, 4] = 1.0, 0.5  # px = 3 = W - 2 is refined; 4 = W - 1 is not
    edge[0, 1, 3, 4], edge[0, 1, 3, 3] = 1.0, 0.5
    out = refine_quarter_offset(edge, np.array([[[3, 3], [4, 3]]], dtype=np.float32))
    np.testing.assert_allclose(out[0], [[3.25, 3], [4, 3]])


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


def test_encode_subpixel_equals_per_joint_gaussians_exactly():
    # Each map is the float64 product of the two 1-D Gaussians rounded once to float32
    # (subnormals included): the vectorised encoder must give exactly that.
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(-40, 230, (30, 2)), [[-200.0, 50.0], [100.0, 400.0], [191.0, 255.0]]])
    vis = rng.random(len(kps)) < 0.8
    hms, w = encode_heatmaps(kps, vis, (192, 256), (48, 64), 2.0, "subpixel")
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
