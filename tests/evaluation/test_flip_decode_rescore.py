import numpy as np
import pytest
import torch

from posedy.data.codec import decode_heatmaps, encode_heatmaps
from posedy.data.geometry import apply_affine, box_to_center_scale, get_affine_transform
from posedy.evaluation.decode import decode_to_image
from posedy.evaluation.flip import average_with_flipped, flip_back
from posedy.evaluation.rescore import rescore


def _three_channels():
    return np.arange(1, 13, dtype=np.float32).reshape(1, 3, 1, 4)


def test_flip_back_hand_worked():
    hms = _three_channels()  # channel rows: [1 2 3 4], [5 6 7 8], [9 10 11 12]
    out = flip_back(hms, [(1, 2)], shift=False)
    np.testing.assert_array_equal(out[0, :, 0], [[4, 3, 2, 1], [12, 11, 10, 9], [8, 7, 6, 5]])
    out = flip_back(hms, [(1, 2)], shift=True)
    # Shift right by one; column 0 keeps its value, as in HRNet.
    np.testing.assert_array_equal(out[0, :, 0], [[4, 4, 3, 2], [12, 12, 11, 10], [8, 8, 7, 6]])
    np.testing.assert_array_equal(hms[0, 0, 0], [1, 2, 3, 4])  # input untouched


def test_flip_back_torch_matches_numpy():
    rng = np.random.default_rng(0)
    hms = rng.random((2, 17, 8, 6)).astype(np.float32)
    pairs = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
    for shift in (False, True):
        ref = flip_back(hms, pairs, shift)
        got = flip_back(torch.from_numpy(hms), pairs, shift)
        assert isinstance(got, torch.Tensor)
        np.testing.assert_array_equal(got.numpy(), ref)
    fused = average_with_flipped(torch.from_numpy(hms), torch.from_numpy(hms), pairs)
    np.testing.assert_allclose(fused.numpy(), (hms + flip_back(hms, pairs)) / 2)


def test_flip_back_shift_explained_by_geometry():
    # A joint at input x=100 (heatmap 25.0). In the mirrored 192-wide crop it is at 191-100=91,
    # heatmap 22.75; mirroring the 48-wide heatmap puts it at 47-22.75=24.25 (0.75 px left);
    # the one-pixel shift leaves it at 25.25 (0.25 px right).
    flipped, _ = encode_heatmaps([[91.0, 128.0]], [1], (192, 256), (48, 64), 2.0, "subpixel")
    for shift, expected in ((False, 24.25), (True, 25.25)):
        back = flip_back(flipped[None], (), shift)
        coords, _ = decode_heatmaps(back, "dark")
        assert coords[0, 0, 0] == pytest.approx(expected, abs=0.02)
        assert coords[0, 0, 1] == pytest.approx(32.0, abs=0.02)


def test_decode_to_image_hand_worked():
    hm = np.zeros((1, 1, 64, 48), dtype=np.float32)
    hm[0, 0, 20, 10] = 1.0
    hm[0, 0, 20, 11] = 0.5   # right neighbour higher: +0.25 in x
    hm[0, 0, 20, 9] = 0.2
    hm[0, 0, 19, 10] = hm[0, 0, 21, 10] = 0.3  # equal: no y offset
    kps = decode_to_image(hm, [[100.0, 200.0]], [[96.0, 128.0]], "quarter")
    # zoom = 96 / 48 = 2; x = (10.25 - 24) * 2 + 100, y = (20 - 32) * 2 + 200.
    np.testing.assert_allclose(kps, [[[72.5, 176.0, 1.0]]])


def test_codec_round_trip_through_image_coordinates():
    rng = np.random.default_rng(0)
    box = (50.0, 30.0, 120.0, 260.0)
    center, scale = box_to_center_scale(box, 192 / 256, 1.25)
    kps = np.stack([rng.uniform(60, 160, 17), rng.uniform(40, 280, 17)], axis=1)
    crop = apply_affine(kps, get_affine_transform(center, scale, 0.0, (192, 256)))
    hms, weight = encode_heatmaps(crop, np.ones(17), (192, 256), (48, 64), 2.0, "subpixel")
    assert weight.min() == 1.0
    got = decode_to_image(hms[None], center[None], scale[None], "quarter")[0]
    zoom = scale[0] / 48  # image pixels per heatmap pixel
    assert np.abs(got[:, :2] - kps).max() <= 0.25 * zoom + 1e-4
    np.testing.assert_allclose(got[:, 2], hms.reshape(17, -1).max(1))
    got_dark = decode_to_image(hms[None], center[None], scale[None], "dark")[0]
    assert np.abs(got_dark[:, :2] - kps).max() < 0.1 * zoom


def test_rescore_hand_worked():
    joints = np.array([[0.1, 0.2, 0.5, 0.7],    # 0.2 is not above the threshold
                       [0.1, 0.2, 0.15, 0.0],   # nothing above: HRNet's score is 0
                       [0.3, 0.3, 0.3, 0.9]])
    out = rescore([0.9, 0.8, 0.5], joints, threshold=0.2)
    np.testing.assert_allclose(out, [0.9 * 0.6, 0.0, 0.5 * 0.45])
    np.testing.assert_allclose(rescore([1.0], [[0.1, 0.3]], threshold=0.0), [0.2])
