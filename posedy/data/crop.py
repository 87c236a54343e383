"""Crop mechanics: a deterministic crop transform applied to an image and its keypoints.

A ``CropTransform`` (centre, scale, rotation, flip) is ONE affine matrix
(``get_affine_transform``), used for one bilinear ``cv2.warpAffine`` of the image and for the
keypoints alike; a flip also swaps the identities of left/right joints. Only the source window
the crop can see is warped (``source_window``), and the crop is ImageNet-normalised into
channel-first RGB float (``normalize_crop``). Nothing here is random: the random choice of a
transform is ``posedy.data.augment.AugmentPolicy``'s.
"""

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from posedy.data.geometry import apply_affine, get_affine_transform, invert_affine

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Per-channel affine that maps uint8 RGB to ImageNet-normalised float in one multiply-add.
_NORM_SCALE = (1.0 / (255.0 * np.asarray(IMAGENET_STD))).astype(np.float32)
_NORM_BIAS = (np.asarray(IMAGENET_MEAN) / np.asarray(IMAGENET_STD)).astype(np.float32)
_NORM_SCALE3 = _NORM_SCALE.reshape(3, 1, 1)
_NORM_BIAS3 = _NORM_BIAS.reshape(3, 1, 1)


# OpenCV 5's bilinear warpAffine has a vectorised path for 4-channel 8-bit images that
# 3-channel images do not get: warping BGRA is about 2x faster there (same pixels), which
# pays for converting the source window to BGRA. OpenCV 4.x is the other way round.
WARP_FOUR_CHANNELS = int(cv2.__version__.split(".")[0]) >= 5


@dataclass(frozen=True)
class CropTransform:
    """A fully determined crop: apply with ``matrix`` (and ``photometric_seed`` if set).

    ``center`` (2,) and ``scale`` (2,) px ``(w, h)`` are the region actually cropped
    (after half-body and zoom); ``rotation`` in degrees; ``half_body`` is "", "upper"
    or "lower" (for inspection and tests).
    """

    center: np.ndarray
    scale: np.ndarray
    rotation: float = 0.0
    flip: bool = False
    half_body: str = ""
    photometric_seed: int = -1

    def matrix(self, output_size, inv: bool = False) -> np.ndarray:
        """(2, 3) float64 image -> crop matrix (crop -> image if ``inv``)."""
        return get_affine_transform(self.center, self.scale, self.rotation, output_size,
                                    flip=self.flip, inv=inv)


def transform_keypoints(keypoints, visible, mat, flip: bool, flip_perm):
    """Map keypoints through the crop matrix; under a flip, swap left/right identities.

    The matrix already mirrors positions; the permutation makes joint ``j`` of the output
    the mirror image of joint ``flip_perm[j]`` of the input (a left wrist seen in a
    mirror is a right wrist).

    Args:
        keypoints: (K, 2) image px; visible: (K,); mat: (2, 3); flip_perm: (K,) int.
    Returns:
        keypoints (K, 2) float64 crop px; visible (K,) (same dtype as given).
    """
    out = apply_affine(keypoints, mat)
    vis = np.asarray(visible)
    if flip:
        out, vis = out[flip_perm], vis[flip_perm]
    return out, vis


def source_window(mat, output_size, image_hw):
    """The image pixels a bilinear warp into ``output_size`` with ``mat`` can read.

    The crop's rectangle, grown by one pixel, is mapped back into the image; its bounding
    box plus one pixel for the bilinear neighbour (and one for cv2's 1/32-pixel rounding)
    is clipped to the image. Warping only this window (with ``shift_affine``) gives the
    same crop while touching a fraction of a large image.

    Args:
        mat: (2, 3) image -> crop; output_size: ``(w, h)``; image_hw: ``(H, W)``.
    Returns:
        ``(x0, y0, x1, y1)`` ints with exclusive ends, or None when the crop sees no pixel
        of the image.
    """
    (a, b, tx), (c, d, ty) = np.asarray(mat, dtype=np.float64).tolist()
    w, h = float(output_size[0]), float(output_size[1])
    # The corners through the closed-form inverse, in Python floats: a tenth of the cost of
    # the NumPy/LAPACK version below, and within ~1e-12 px of it, so both floors agree
    # unless a bound sits on an integer; then the reference computation decides.
    det = a * d - b * c
    if det == 0.0 or not math.isfinite(det + tx + ty):
        return _source_window_reference(mat, output_size, image_hw)
    xs, ys = [], []
    for u, v in ((-1.0, -1.0), (w, -1.0), (-1.0, h), (w, h)):
        du, dv = u - tx, v - ty
        xs.append((d * du - b * dv) / det)
        ys.append((a * dv - c * du) / det)
    bounds = (min(xs), min(ys), max(xs), max(ys))
    if not all(math.isfinite(v) and abs(v - round(v)) > 1e-6 for v in bounds):
        return _source_window_reference(mat, output_size, image_hw)
    x0, y0 = max(math.floor(bounds[0]) - 1, 0), max(math.floor(bounds[1]) - 1, 0)
    x1, y1 = min(math.floor(bounds[2]) + 3, int(image_hw[1])), min(math.floor(bounds[3]) + 3, int(image_hw[0]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _source_window_reference(mat, output_size, image_hw):
    """``source_window`` through NumPy's matrix inverse (the definition the fast path matches)."""
    w, h = float(output_size[0]), float(output_size[1])
    corners = np.array([[-1.0, -1.0], [w, -1.0], [-1.0, h], [w, h]])
    src = apply_affine(corners, invert_affine(mat))
    lo = np.floor(src.min(axis=0)).astype(np.int64) - 1
    hi = np.floor(src.max(axis=0)).astype(np.int64) + 3
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), int(image_hw[1])), min(int(hi[1]), int(image_hw[0]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def shift_affine(mat, x0: float, y0: float) -> np.ndarray:
    """The (2, 3) matrix for the sub-image whose top-left pixel is ``(x0, y0)`` of the image."""
    mat = np.asarray(mat, dtype=np.float64)
    out = mat.copy()
    out[:, 2] += mat[:, :2] @ np.array([x0, y0], dtype=np.float64)
    return out


def warp_crop(image, mat, output_size, dst=None) -> np.ndarray:
    """The crop: one bilinear ``cv2.warpAffine`` of ``image`` (H, W, C) uint8 -> (h, w, C).

    ``dst``: optional (h, w, C) uint8 array to write the crop into (and return).
    """
    return cv2.warpAffine(image, mat, (int(output_size[0]), int(output_size[1])), dst=dst,
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class CropScratch(threading.local):
    """Reusable buffers for ``crop_image`` and ``normalize_crop``, one set per thread.

    A sample's intermediate images (the BGRA source window, the warped crop, its three
    channel planes) are written into these buffers instead of fresh arrays: allocating and
    freeing about a megabyte per sample makes glibc hand the memory back to the kernel and
    fault it in again (hundreds of page faults per sample). Nothing returned to a caller
    lives in them except ``crop_image``'s result, which the next call overwrites.
    """

    def __init__(self, output_size):
        w, h = int(output_size[0]), int(output_size[1])
        channels = 4 if WARP_FOUR_CHANNELS else 3
        self.crop = np.empty((h, w, channels), dtype=np.uint8)
        self.planes = np.empty((3, h, w), dtype=np.uint8)
        self._window = np.empty(0, dtype=np.uint8)
        self.plane_list = list(self.planes)

    def window(self, h: int, w: int, channels: int) -> np.ndarray:
        """A (h, w, channels) uint8 view of a buffer that grows to the largest window seen."""
        n = h * w * channels
        if self._window.size < n:
            self._window = np.empty(n, dtype=np.uint8)
        return self._window[:n].reshape(h, w, channels)


def crop_image(image, mat, output_size, scratch=None) -> np.ndarray:
    """Warp the part of ``image`` (H, W, 3) BGR uint8 that ``mat`` maps into ``output_size``.

    Only the source window the crop can see is converted and warped (see
    ``source_window``); the result equals ``warp_crop(image, mat, output_size)`` up to
    cv2's 1/32-pixel coordinate rounding.

    Args:
        scratch: optional ``CropScratch`` for ``output_size``; the result is then its
            buffer, valid until the next call with the same scratch.
    Returns:
        (h, w, 3) or (h, w, 4) uint8 BGR(A) crop; the 4th channel, if any, is padding.
    """
    window = source_window(mat, output_size, image.shape[:2])
    channels = 4 if WARP_FOUR_CHANNELS else 3
    size = (int(output_size[0]), int(output_size[1]))
    if window is None:
        if scratch is None:
            return np.zeros((size[1], size[0], channels), dtype=np.uint8)
        scratch.crop.fill(0)
        return scratch.crop
    x0, y0, x1, y1 = window
    sub = image[y0:y1, x0:x1]
    if WARP_FOUR_CHANNELS:
        dst = None if scratch is None else scratch.window(y1 - y0, x1 - x0, 4)
        sub = cv2.cvtColor(sub, cv2.COLOR_BGR2BGRA, dst=dst)
    return warp_crop(sub, shift_affine(mat, x0, y0), size, dst=None if scratch is None else scratch.crop)


def normalize_crop(crop, bgr: bool = True, scratch=None) -> np.ndarray:
    """ImageNet-normalise a uint8 crop into channel-first RGB float32.

    Channel order is fixed here, on the small crop, so the full image is never converted.

    Args:
        crop: (h, w, 3) or (h, w, 4) uint8 (a 4th channel is ignored); bgr: whether the
            first three channels are BGR (cv2's order) rather than RGB; scratch: optional
            ``CropScratch`` of the crop's size, for the channel planes.
    Returns:
        (3, h, w) float32: ``(value / 255 - mean) / std`` per RGB channel.
    """
    h, w = crop.shape[:2]
    planes = scratch.planes if scratch is not None else np.empty((3, h, w), dtype=np.uint8)
    plane_list = scratch.plane_list if scratch is not None else list(planes)
    # One pass de-interleaves R, G, B into contiguous planes (measured ~1.4x faster to
    # normalise than strided reads of the interleaved crop).
    order = (2, 1, 0) if bgr else (0, 1, 2)
    cv2.mixChannels([np.ascontiguousarray(crop)], plane_list, [order[0], 0, order[1], 1, order[2], 2])
    out = np.multiply(planes, _NORM_SCALE3, dtype=np.float32)
    out -= _NORM_BIAS3
    return out
