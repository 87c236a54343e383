"""Training augmentation: a random policy that draws a deterministic crop transform.

The policy (``AugmentPolicy.sample``) reads only an explicit ``np.random.Generator`` and
returns a ``posedy.data.crop.CropTransform`` (centre, scale, rotation, flip, and a seed for the
optional photometric step) that holds the half-body re-centring, random scale, rotation and
horizontal flip. Applying it is deterministic and lives in ``posedy.data.crop``: one affine
matrix for the image and the keypoints alike.

The recipe is HRNet's (Sun et al. 2019) with one fix. HRNet picks the upper body in
half-body augmentation when ``np.random.randn() < 0.5``, a standard normal draw where a
uniform one was evidently meant, so it picks the upper body with probability
Phi(0.5) ~ 0.69, not 0.5. We write that probability down as ``upper_body_prob`` (0.7 by
default, close to HRNet's effective behaviour) and draw it from a uniform number.
"""

from dataclasses import dataclass

import numpy as np

from posedy.data.crop import CropTransform
from posedy.data.keypoints import (COCO_FLIP_PAIRS, COCO_LOWER_BODY_IDS, COCO_UPPER_BODY_IDS,
                                   NUM_COCO_KEYPOINTS, flip_permutation)

# HRNet enlarges the tight box of the chosen half body by this factor.
HALF_BODY_PADDING = 1.5
# A body half is used only with more than two labelled joints (HRNet's rule).
HALF_BODY_MIN_SET = 3


def clipped_scale_factor(z: float, scale_factor: float) -> float:
    """HRNet's random zoom from a standard normal draw ``z``: ``clip(1 + z*sf, 1-sf, 1+sf)``."""
    # min/max on Python floats: the same value as np.clip, without its per-call overhead.
    return min(max(1.0 + float(z) * scale_factor, 1.0 - scale_factor), 1.0 + scale_factor)


def clipped_rotation(z: float, rotation_factor: float) -> float:
    """HRNet's random rotation in degrees from a standard normal draw ``z``: ``clip(z*rf, -2rf, 2rf)``."""
    return min(max(float(z) * rotation_factor, -2.0 * rotation_factor), 2.0 * rotation_factor)


def select_half_body(visible, choose_upper: bool, upper_ids=COCO_UPPER_BODY_IDS,
                     lower_ids=COCO_LOWER_BODY_IDS, min_joints: int = HALF_BODY_MIN_SET):
    """Which labelled joints to re-centre the crop on.

    The preferred half is used when it has at least ``min_joints`` labelled joints,
    otherwise the other half when it has; otherwise none.

    Args:
        visible: (K,) truthy where labelled; choose_upper: the preferred half.
    Returns:
        (name, ids): ``("upper" | "lower", (M,) int64 joint ids)``, or ``(None, None)``.
    """
    vis = np.asarray(visible) > 0
    upper = np.array([j for j in upper_ids if vis[j]], dtype=np.int64)
    lower = np.array([j for j in lower_ids if vis[j]], dtype=np.int64)
    order = [("upper", upper), ("lower", lower)]
    if not choose_upper:
        order.reverse()
    for name, ids in order:
        if len(ids) >= min_joints:
            return name, ids
    return None, None


def half_body_center_scale(points, aspect_ratio: float, padding: float = HALF_BODY_PADDING):
    """Crop region around a subset of joints (HRNet's half-body box).

    The centre is the joints' mean (not the box centre); the tight box is widened or
    heightened to ``aspect_ratio`` and enlarged by ``padding``.

    Args:
        points: (M, 2) ``(x, y)``, M >= 2; aspect_ratio: crop w / h.
    Returns:
        center (2,) float32; scale (2,) float32 ``(w, h)`` px.
    """
    pts = np.asarray(points, dtype=np.float64)
    center = pts.mean(axis=0)
    w, h = pts.max(axis=0) - pts.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center.astype(np.float32), np.array([w * padding, h * padding], dtype=np.float32)


@dataclass(frozen=True)
class AugmentPolicy:
    """HRNet's training augmentation with every probability explicit.

    ``image_size`` is the crop ``(w, h)`` (the half-body box takes its aspect ratio). Setting a
    probability or factor to 0 disables that step. The defaults are those of the config section
    ``data.augment`` (``posedy.config.AugmentConfig``), from which ``build_dataset`` builds
    the policy.
    """

    image_size: tuple = (192, 256)
    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    upper_body_prob: float = 0.7
    photometric: bool = False
    num_joints: int = NUM_COCO_KEYPOINTS
    flip_pairs: tuple = COCO_FLIP_PAIRS
    upper_body_ids: tuple = COCO_UPPER_BODY_IDS
    lower_body_ids: tuple = COCO_LOWER_BODY_IDS

    def sample(self, rng: np.random.Generator, keypoints, visible, center, scale) -> CropTransform:
        """Draw one transform for a person.

        Every random number is drawn on every call, in a fixed order, so each decision
        uses the same draw whatever the others decided (the photometric seed comes last and
        is drawn only when ``photometric`` is on).

        Args:
            rng: the sample's generator; keypoints: (K, 2) image px; visible: (K,);
            center: (2,); scale: (2,) px.
        """
        u_half, u_upper, z_scale, u_rot, z_rot, u_flip = (
            rng.random(), rng.random(), rng.standard_normal(), rng.random(), rng.standard_normal(),
            rng.random())
        # Drawn last, so skipping it when unused changes no other draw.
        photometric_seed = int(rng.integers(0, 2 ** 31 - 1)) if self.photometric else -1
        center = np.asarray(center, dtype=np.float32)
        scale = np.asarray(scale, dtype=np.float32)
        vis = np.asarray(visible) > 0
        half = ""
        if u_half < self.half_body_prob and np.count_nonzero(vis) > self.half_body_min_joints:
            name, ids = select_half_body(vis, u_upper < self.upper_body_prob,
                                         self.upper_body_ids, self.lower_body_ids)
            if name is not None:
                aspect = self.image_size[0] / self.image_size[1]
                center, scale = half_body_center_scale(np.asarray(keypoints)[ids, :2], aspect)
                half = name
        scale = scale * np.float32(clipped_scale_factor(z_scale, self.scale_factor))
        rotation = clipped_rotation(z_rot, self.rotation_factor) if u_rot < self.rotation_prob else 0.0
        return CropTransform(center=center, scale=scale, rotation=rotation,
                             flip=bool(u_flip < self.flip_prob), half_body=half,
                             photometric_seed=photometric_seed)

    @property
    def flip_perm(self) -> np.ndarray:
        """(K,) int64: joint ``j`` of a flipped crop is joint ``flip_perm[j]`` of the person."""
        return flip_permutation(self.num_joints, self.flip_pairs)


def build_photometric():
    """Colour augmentation on RGB uint8 crops (albumentations), seeded per sample.

    Returns:
        an ``albumentations.Compose``; call ``set_random_seed(seed)`` before each use so the
        result is a function of the sample's generator only.
    """
    import albumentations as A  # imported lazily: only needed when photometric is on

    return A.Compose([
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=20, val_shift_limit=10, p=0.3),
        A.RandomGamma(gamma_limit=(80, 120), p=0.2),
        A.GaussianBlur(blur_limit=(3, 3), p=0.1),
    ])


def apply_photometric(pipeline, crop_rgb: np.ndarray, seed: int) -> np.ndarray:
    """Apply ``pipeline`` to an RGB uint8 crop (h, w, 3) with a fixed seed; same shape/dtype."""
    pipeline.set_random_seed(seed)
    return pipeline(image=crop_rgb)["image"]
