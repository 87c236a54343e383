import numpy as np

from posedy.data.crop import (IMAGENET_MEAN, IMAGENET_STD, CropScratch, CropTransform, crop_image, normalize_crop,
                              shift_affine, source_window, transform_keypoints, warp_crop)
from posedy.data.geometry import apply_affine, get_affine_transform
from posedy.data.keypoints import COCO_FLIP_PAIRS, flip_permutation


def test_transform_keypoints_flip_swaps_identities():
    mat = get_affine_transform((50.0, 50.0), (192.0, 256.0), 0.0, (192, 256), flip=True)
    kps = np.zeros((17, 2))
    kps[5] = [60, 50]   # left shoulder, 10 px right of centre
    kps[6] = [40, 50]   # right shoulder
    vis = np.zeros(17)
    vis[5] = 2
    out, out_vis = transform_keypoints(kps, vis, mat, True, flip_permutation(17, COCO_FLIP_PAIRS))
    # Unflipped crop x would be 96 + dx; the mirror is 191 - that; joint 5 takes joint 6's place.
    np.testing.assert_allclose(out[5], [191 - (96 - 10), 128])
    np.testing.assert_allclose(out[6], [191 - (96 + 10), 128])
    assert out_vis[6] == 2 and out_vis[5] == 0


def test_warp_crop_flip_mirrors_pixels():
    image = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    plain = CropTransform(center=np.array([50.0, 40.0]), scale=np.array([60.0, 80.0]), rotation=12.0)
    flipped = CropTransform(center=plain.center, scale=plain.scale, rotation=12.0, flip=True)
    a = warp_crop(image, plain.matrix((48, 64)), (48, 64)).astype(int)
    b = warp_crop(image, flipped.matrix((48, 64)), (48, 64)).astype(int)
    assert a.shape == (64, 48, 3)
    # Same source positions, sampled with cv2's 1/32-pixel fixed point: equal up to rounding.
    assert np.abs(a[:, ::-1] - b).max() <= 2


def test_source_window_and_shift_values():
    mat = get_affine_transform((50.0, 40.0), (20.0, 20.0), 0.0, (10, 10))  # zoom 0.5
    # x_img = 2 x_crop + 40, y_img = 2 y_crop + 30: crop [-1, 10] -> x [38, 60], y [28, 50];
    # then one pixel before and an exclusive end three past the last.
    assert source_window(mat, (10, 10), (80, 100)) == (37, 27, 63, 53)
    assert source_window(mat, (10, 10), (30, 30)) is None
    shifted = shift_affine(mat, 37, 27)
    np.testing.assert_allclose(apply_affine([[0.0, 0.0]], shifted), apply_affine([[37.0, 27.0]], mat))


def test_crop_image_matches_full_warp():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    differing = 0
    for _ in range(40):
        mat = get_affine_transform(rng.uniform(-20, 180, 2), (rng.uniform(10, 300),) * 2, rng.uniform(-90, 90),
                                   (48, 64), flip=bool(rng.random() < 0.5))
        full = warp_crop(image, mat, (48, 64)).astype(int)
        part = crop_image(image, mat, (48, 64))[..., :3].astype(int)
        assert np.abs(full - part).max() <= 1
        differing += int((full != part).sum())
    assert differing <= 0.001 * 40 * 48 * 64 * 3


def test_crop_image_scratch_gives_the_same_crop():
    rng = np.random.default_rng(1)
    scratch = CropScratch((48, 64))
    for size in ((120, 160), (300, 90), (64, 48)):
        image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        for _ in range(10):
            mat = get_affine_transform(rng.uniform(-20, 180, 2), (rng.uniform(10, 300),) * 2,
                                       rng.uniform(-90, 90), (48, 64), flip=bool(rng.random() < 0.5))
            fresh = crop_image(image, mat, (48, 64))
            reused = crop_image(image, mat, (48, 64), scratch)
            assert reused is scratch.crop
            np.testing.assert_array_equal(reused, fresh)
    far = get_affine_transform((5000.0, 5000.0), (40.0, 40.0), 0.0, (48, 64))
    assert not crop_image(image, far, (48, 64), scratch).any()


def test_source_window_fast_path_matches_reference():
    from posedy.data.crop import _source_window_reference

    rng = np.random.default_rng(0)
    for i in range(3000):
        if i % 2:  # integer centres and right angles put window bounds on integers
            center = rng.integers(-50, 700, 2).astype(np.float32)
            scale = (rng.integers(4, 200) * np.array([3, 4])).astype(np.float32)
            rotation = float(rng.choice([0.0, 90.0, -90.0, 45.0, 180.0]))
        else:
            center, scale = rng.uniform(-100, 700, 2), rng.uniform(10, 900, 2)
            rotation = float(rng.normal() * 45)
        mat = get_affine_transform(center, scale, rotation, (192, 256), flip=bool(i % 3 == 0))
        hw = (int(rng.integers(100, 700)), int(rng.integers(100, 700)))
        assert source_window(mat, (192, 256), hw) == _source_window_reference(mat, (192, 256), hw)


def test_normalize_crop_values():
    crop = np.zeros((2, 3, 3), dtype=np.uint8)
    crop[..., 0] = 255  # blue in BGR
    out = normalize_crop(crop, bgr=True)
    assert out.shape == (3, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[2], (1.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2], rtol=1e-6)
    np.testing.assert_allclose(out[0], -IMAGENET_MEAN[0] / IMAGENET_STD[0], rtol=1e-6)
    np.testing.assert_allclose(normalize_crop(crop[..., ::-1], bgr=False), out)


def test_normalize_crop_scratch_and_layouts_agree():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (64, 48, 4), dtype=np.uint8)
    scratch = CropScratch((48, 64))
    want = normalize_crop(crop[..., :3].copy(), bgr=True)
    np.testing.assert_array_equal(normalize_crop(crop, bgr=True, scratch=scratch), want)
    np.testing.assert_array_equal(normalize_crop(crop[..., 2::-1], bgr=False, scratch=scratch), want)
    expected = (crop[..., 2::-1].transpose(2, 0, 1) / 255.0 - np.reshape(IMAGENET_MEAN, (3, 1, 1))) \
        / np.reshape(IMAGENET_STD, (3, 1, 1))
    np.testing.assert_allclose(want, expected, rtol=1e-5, atol=1e-5)
