import numpy as np
import pytest

from posedy.config import AugmentConfig
from posedy.data.augment import (AugmentPolicy, apply_photometric, build_photometric, clipped_rotation,
                                 clipped_scale_factor, half_body_center_scale, select_half_body)


class ScriptedRng:
    """Stands in for np.random.Generator, returning scripted draws in order."""

    def __init__(self, uniforms, normals, integer=12345):
        self.uniforms, self.normals, self.integer = list(uniforms), list(normals), integer

    def random(self):
        return self.uniforms.pop(0)

    def standard_normal(self):
        return self.normals.pop(0)

    def integers(self, low, high):
        return self.integer


def test_clipped_scale_factor_values():
    assert clipped_scale_factor(0.5, 0.35) == pytest.approx(1.175)
    assert clipped_scale_factor(3.0, 0.35) == pytest.approx(1.35)
    assert clipped_scale_factor(-5.0, 0.35) == pytest.approx(0.65)
    assert clipped_scale_factor(2.0, 0.0) == 1.0


def test_clipped_rotation_values():
    assert clipped_rotation(0.5, 45.0) == pytest.approx(22.5)
    assert clipped_rotation(3.0, 45.0) == pytest.approx(90.0)
    assert clipped_rotation(-2.5, 45.0) == pytest.approx(-90.0)


def test_select_half_body_prefers_and_falls_back():
    vis = np.ones(17)
    name, ids = select_half_body(vis, choose_upper=True)
    assert name == "upper" and ids.tolist() == list(range(11))
    name, ids = select_half_body(vis, choose_upper=False)
    assert name == "lower" and ids.tolist() == list(range(11, 17))
    only_two_lower = np.ones(17)
    only_two_lower[[11, 12, 13, 14]] = 0
    name, ids = select_half_body(only_two_lower, choose_upper=False)
    assert name == "upper"
    nothing = np.zeros(17)
    nothing[[0, 1, 11, 12]] = 2
    assert select_half_body(nothing, choose_upper=True) == (None, None)


def test_half_body_center_scale_values():
    center, scale = half_body_center_scale([[0, 0], [30, 80], [60, 40]], 0.75)
    np.testing.assert_allclose(center, [30, 40])
    np.testing.assert_allclose(scale, [90, 120])
    center, scale = half_body_center_scale([[0, 0], [90, 30]], 0.75)
    np.testing.assert_allclose(center, [45, 15])
    np.testing.assert_allclose(scale, [135, 180])


def test_policy_sample_scripted():
    policy = AugmentPolicy(image_size=(192, 256))
    kps = np.stack([np.arange(17) * 4.0, np.arange(17) * 10.0], axis=1)
    vis = np.full(17, 2)
    # half-body yes (0.1 < 0.3), upper (0.5 < 0.7), rotation yes (0.2 < 0.6), no flip (0.7).
    rng = ScriptedRng(uniforms=[0.1, 0.5, 0.2, 0.7], normals=[0.5, -0.5])
    t = policy.sample(rng, kps, vis, (1.0, 2.0), (30.0, 40.0))
    upper = kps[:11]
    center, scale = half_body_center_scale(upper, 0.75)
    np.testing.assert_allclose(t.center, center)
    np.testing.assert_allclose(t.scale, scale * 1.175, rtol=1e-6)
    assert t.rotation == pytest.approx(-22.5) and t.flip is False and t.half_body == "upper"
    assert t.photometric_seed == -1
    # No half-body (0.9), rotation skipped (0.95 >= 0.6), flip (0.1).
    rng = ScriptedRng(uniforms=[0.9, 0.5, 0.95, 0.1], normals=[-1.0, 1.0])
    t = policy.sample(rng, kps, vis, (1.0, 2.0), (30.0, 40.0))
    np.testing.assert_allclose(t.center, [1.0, 2.0])
    np.testing.assert_allclose(t.scale, [30 * 0.65, 40 * 0.65], rtol=1e-6)
    assert t.rotation == 0.0 and t.flip is True and t.half_body == ""


def test_half_body_needs_more_than_min_joints():
    policy = AugmentPolicy(half_body_prob=1.0)
    vis = np.zeros(17)
    vis[:8] = 2  # exactly 8 labelled: not more than half_body_min_joints
    t = policy.sample(np.random.default_rng(0), np.zeros((17, 2)), vis, (5.0, 5.0), (10.0, 10.0))
    assert t.half_body == ""


def test_upper_body_probability_is_honoured():
    # HRNet's randn() < 0.5 would give Phi(0.5) = 0.69 whatever was intended; ours is explicit.
    rng = np.random.default_rng(0)
    kps = rng.uniform(0, 100, (17, 2))
    for prob in (0.5, 0.7):
        policy = AugmentPolicy(half_body_prob=1.0, upper_body_prob=prob)
        picks = [policy.sample(rng, kps, np.ones(17), (50, 50), (80, 100)).half_body for _ in range(4000)]
        assert picks.count("upper") / 4000 == pytest.approx(prob, abs=0.03)


def test_policy_is_deterministic_per_generator():
    policy = AugmentPolicy(photometric=True)
    kps = np.random.default_rng(1).uniform(0, 100, (17, 2))
    a = policy.sample(np.random.default_rng([4, 2, 9]), kps, np.ones(17), (50, 50), (80, 100))
    b = policy.sample(np.random.default_rng([4, 2, 9]), kps, np.ones(17), (50, 50), (80, 100))
    assert a.rotation == b.rotation and a.flip == b.flip and a.photometric_seed == b.photometric_seed >= 0
    np.testing.assert_array_equal(a.scale, b.scale)


def test_photometric_seeded():
    pipe = build_photometric()
    crop = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    a = apply_photometric(pipe, crop, 7)
    b = apply_photometric(pipe, crop, 7)
    assert a.shape == crop.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(apply_photometric(pipe, crop, s), crop) for s in range(5))


def test_policy_defaults_are_the_config_defaults():
    # The policy built from a default data.augment section is the default policy.
    from posedy.data.dataset import build_augment_policy

    assert build_augment_policy(AugmentConfig(), (192, 256), 17) == AugmentPolicy()
    assert build_augment_policy(AugmentConfig(flip=False), (192, 256), 17).flip_prob == 0.0
