"""Gaussian heatmap codec: encoding and decoding side by side.

A joint at crop pixel ``p`` sits at heatmap coordinate ``p / stride`` with
``stride = image_size / heatmap_size`` (4 for 256x192 -> 64x48), and decoding inverts it.
The Gaussian is centred at the exact sub-pixel location (HRNet rounds it to an integer
first, which costs up to half a heatmap pixel before any decoding), so the argmax is the
nearest pixel and the quarter offset brings the round trip within a quarter pixel.
"""

from dataclasses import dataclass

import cv2
import numpy as np


_GRIDS = {}


def _gaussian_grid(hm_w: int, hm_h: int):
    """Pixel coordinates ``[0..W-1, 0..H-1]`` and the joint axis (0 = x, 1 = y) of each."""
    key = (hm_w, hm_h)
    if key not in _GRIDS:
        _GRIDS[key] = (np.concatenate([np.arange(hm_w), np.arange(hm_h)]).astype(np.float64),
                       np.repeat(np.array([0, 1]), [hm_w, hm_h]))
    return _GRIDS[key]


def encode_heatmaps(keypoints, visible, image_size, heatmap_size, sigma: float):
    """Gaussian heatmap targets and per-joint weights.

    Args:
        keypoints: (K, 2) crop-pixel ``(x, y)``.
        visible: (K,) truthy where the joint is labelled.
        image_size: crop ``(w, h)``; heatmap_size: ``(w, h)``; sigma: in heatmap pixels.
    Returns:
        heatmaps: (K, H, W) float32 in [0, 1]; target_weight: (K,) float32, 0 for an
        unlabelled joint or one whose 3-sigma window misses the heatmap (HRNet's rule).
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    kps = np.asarray(keypoints, dtype=np.float64)
    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    mu = kps / np.array([image_size[0] / hm_w, image_size[1] / hm_h])
    radius = 3.0 * sigma
    # HRNet's rule: a joint whose 3-sigma window misses the map gets weight 0. A Python loop
    # over K joints: cheaper here than the dozen NumPy calls the vectorised test takes.
    weights = [0.0 if (not v > 0 or x + radius < 0 or y + radius < 0 or x - radius >= hm_w
                       or y - radius >= hm_h) else 1.0
               for v, (x, y) in zip(np.asarray(visible, dtype=np.float64).tolist(), mu.tolist())]
    # Both 1-D Gaussians of every joint in one pass: columns 0..W-1 are x, W..W+H-1 are y.
    # (Per-call overhead, not arithmetic, dominates at this size.)
    grid, axis = _gaussian_grid(hm_w, hm_h)
    g = np.exp(-((grid - mu[:, axis]) ** 2) / (2.0 * sigma ** 2))
    gx, gy = g[:, None, :hm_w], g[:, hm_w:, None]
    if 0.0 in weights:
        # Weights are 0 or 1 and the factors non-negative: weighting a factor gives exactly
        # the weighted map, without a pass over the (mostly subnormal-tailed) float32 maps.
        gy = gy * np.array(weights)[:, None, None]
    heatmaps = (gy * gx).astype(np.float32)
    weight = np.array(weights, dtype=np.float32)
    return heatmaps, weight


def get_heatmap_maximum(heatmaps):
    """Integer argmax per heatmap.

    Args:
        heatmaps: (N, K, H, W) float.
    Returns:
        coords: (N, K, 2) float32 ``(x, y)``, -1 where the maximum is not positive;
        maxvals: (N, K) float32.
    """
    hms = np.asarray(heatmaps)
    n, k, h, w = hms.shape
    flat = hms.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0].astype(np.float32)
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords[maxvals <= 0] = -1
    return coords, maxvals


def refine_quarter_offset(heatmaps, coords):
    """Move each peak a quarter pixel toward its higher neighbour, per axis.

    An axis is refined only where the peak has a neighbour on both sides of it.

    Args:
        heatmaps: (N, K, H, W); coords: (N, K, 2) integer-valued peaks.
    Returns:
        (N, K, 2) float32 refined coordinates.
    """
    hms = np.asarray(heatmaps)
    n, k, h, w = hms.shape
    out = np.asarray(coords, dtype=np.float32).copy()
    px = out[..., 0].astype(np.int64)
    py = out[..., 1].astype(np.int64)
    flat = hms.reshape(n * k, h * w)
    rows = np.arange(n * k)
    px_f, py_f = px.reshape(-1), py.reshape(-1)
    ok_x = (px_f > 0) & (px_f < w - 1) & (py_f >= 0)
    ok_y = (py_f > 0) & (py_f < h - 1) & (px_f >= 0)
    xr, xl = np.clip(px_f + 1, 0, w - 1), np.clip(px_f - 1, 0, w - 1)
    yd, yu = np.clip(py_f + 1, 0, h - 1), np.clip(py_f - 1, 0, h - 1)
    pyc, pxc = np.clip(py_f, 0, h - 1), np.clip(px_f, 0, w - 1)
    dx = flat[rows, pyc * w + xr] - flat[rows, pyc * w + xl]
    dy = flat[rows, yd * w + pxc] - flat[rows, yu * w + pxc]
    shift = np.stack([np.where(ok_x, np.sign(dx), 0.0), np.where(ok_y, np.sign(dy), 0.0)], -1)
    return (out.reshape(-1, 2) + 0.25 * shift).reshape(n, k, 2).astype(np.float32)


def _blurred_log_patches(flat: np.ndarray, px: np.ndarray, py: np.ndarray, kernel: int) -> np.ndarray:
    """Log of the zero-padded Gaussian blur, only on the 5x5 window around each peak.

    DARK needs the blurred log-heatmap at the peak and up to two pixels away; blurring only the
    (5 + kernel - 1)^2 patch that feeds those 25 values keeps decoding linear in the number of
    heatmaps instead of proportional to their full area times the kernel.

    Args:
        flat: (M, H, W) float32; px, py: (M,) integer peaks; kernel: odd blur size.
    Returns:
        (M, 5, 5) float64 blurred log values, rows/cols = offsets -2..2 in y/x.
    """
    taps = cv2.getGaussianKernel(kernel, 0)[:, 0]
    border = (kernel - 1) // 2
    reach = border + 2
    m, h, w = flat.shape
    offsets = np.arange(-reach, reach + 1)
    ys = py[:, None] + offsets
    xs = px[:, None] + offsets
    valid = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    patch = flat[np.arange(m)[:, None, None], np.clip(ys, 0, h - 1)[:, :, None],
                 np.clip(xs, 0, w - 1)[:, None, :]].astype(np.float64) * valid
    size = 5
    rows = sum(t * patch[:, :, i:i + size] for i, t in enumerate(taps))
    blurred = sum(t * rows[:, i:i + size, :] for i, t in enumerate(taps))
    return np.log(np.maximum(blurred, 1e-10))


def refine_dark(heatmaps, coords, kernel: int = 11):
    """Distribution-aware refinement (DARK, Zhang et al. CVPR 2020).

    Smooths each heatmap with a Gaussian, takes logs, and moves the peak by one Newton step of
    the second-order Taylor expansion. (DARK also rescales the blurred map to keep its maximum;
    that is a constant in log space and drops out of the derivatives, so it is skipped.) Peaks
    within two pixels of the border keep their integer location.

    Args:
        heatmaps: (N, K, H, W); coords: (N, K, 2) integer-valued peaks; kernel: odd blur size.
    Returns:
        (N, K, 2) float32 refined coordinates.
    """
    hms = np.asarray(heatmaps, dtype=np.float32)
    n, k, h, w = hms.shape
    out = np.asarray(coords, dtype=np.float64).reshape(n * k, 2).copy()
    px, py = out[:, 0].astype(np.int64), out[:, 1].astype(np.int64)
    ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    logp = _blurred_log_patches(hms.reshape(n * k, h, w), np.where(ok, px, 2), np.where(ok, py, 2), kernel)

    def at(dx, dy):
        return logp[:, 2 + dy, 2 + dx]

    center = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    ok &= det != 0
    safe = np.where(ok, det, 1.0)
    out[:, 0] -= np.where(ok, (dyy * dx - dxy * dy) / safe, 0.0)
    out[:, 1] -= np.where(ok, (dxx * dy - dxy * dx) / safe, 0.0)
    return out.reshape(n, k, 2).astype(np.float32)


def decode_heatmaps(heatmaps, method: str = "quarter", dark_kernel: int = 11):
    """Joint locations in heatmap coordinates and their scores.

    Args:
        heatmaps: (N, K, H, W) float.
        method: ``"quarter"`` (HRNet/SimpleBaseline), ``"dark"`` or ``"argmax"``.
    Returns:
        coords: (N, K, 2) float32 heatmap ``(x, y)``; maxvals: (N, K) float32 joint scores.
    """
    coords, maxvals = get_heatmap_maximum(heatmaps)
    if method == "quarter":
        coords = refine_quarter_offset(heatmaps, coords)
    elif method == "dark":
        coords = refine_dark(heatmaps, coords, dark_kernel)
    elif method != "argmax":
        raise ValueError(f"unknown decoding method {method!r}; valid: argmax, dark, quarter")
    return coords, maxvals


@dataclass(frozen=True)
class HeatmapCodec:
    """Encode crop keypoints to heatmaps and decode heatmaps back to crop keypoints.

    ``image_size`` and ``heatmap_size`` are ``(w, h)``; ``sigma`` is in heatmap pixels.
    """

    image_size: tuple
    heatmap_size: tuple
    sigma: float = 2.0

    @property
    def stride(self) -> np.ndarray:
        return np.array([self.image_size[0] / self.heatmap_size[0],
                         self.image_size[1] / self.heatmap_size[1]], dtype=np.float32)

    def encode(self, keypoints, visible):
        """keypoints: (K, 2) crop px -> heatmaps (K, H, W) float32, target_weight (K,)."""
        return encode_heatmaps(keypoints, visible, self.image_size, self.heatmap_size, self.sigma)

    def decode(self, heatmaps, method: str = "quarter"):
        """heatmaps: (N, K, H, W) -> crop-pixel coords (N, K, 2) float32, scores (N, K)."""
        coords, maxvals = decode_heatmaps(heatmaps, method)
        return coords * self.stride, maxvals
