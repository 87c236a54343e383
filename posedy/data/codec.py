"""Gaussian heatmap codec: encoding and decoding side by side.

A joint at crop pixel ``p`` sits at heatmap coordinate ``p / stride`` with
``stride = image_size / heatmap_size`` (4 for 256x192 -> 64x48), and decoding inverts it.

Two target encodings (``data.target_encoding``):

- ``"hrnet"`` (default, HRNet's ``generate_target``): the Gaussian is centred on the rounded
  pixel ``int(p / stride + 0.5)`` (Python's ``int``, which truncates toward zero) and cut to
  the square window of half-width ``3 sigma`` around it; a joint whose window lies wholly
  outside the map gets weight 0.
- ``"subpixel"``: the Gaussian is centred at the exact sub-pixel location and not cut, so the
  argmax is the nearest pixel (rounding first costs up to half a heatmap pixel before any
  decoding); it is the encoding DARK decoding assumes.

Decoding is HRNet's ``get_final_preds`` (argmax, a quarter-pixel step toward the higher
neighbour) or DARK.
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


TARGET_ENCODINGS = ("hrnet", "subpixel")


def encode_heatmaps(keypoints, visible, image_size, heatmap_size, sigma: float, encoding: str = "hrnet"):
    """Gaussian heatmap targets and per-joint weights.

    Args:
        keypoints: (K, 2) crop-pixel ``(x, y)``.
        visible: (K,) truthy where the joint is labelled.
        image_size: crop ``(w, h)``; heatmap_size: ``(w, h)``; sigma: in heatmap pixels.
        encoding: ``"hrnet"`` or ``"subpixel"`` (see the module docstring).
    Returns:
        heatmaps: (K, H, W) float32 in [0, 1]; target_weight: (K,) float32, 0 for an
        unlabelled joint or one whose 3-sigma window misses the heatmap.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if encoding == "hrnet":
        return encode_heatmaps_hrnet(keypoints, visible, image_size, heatmap_size, sigma)
    if encoding != "subpixel":
        raise ValueError(f"unknown target encoding {encoding!r}; valid: {', '.join(TARGET_ENCODINGS)}")
    return encode_heatmaps_subpixel(keypoints, visible, image_size, heatmap_size, sigma)


def encode_heatmaps_hrnet(keypoints, visible, image_size, heatmap_size, sigma: float):
    """HRNet's targets: a Gaussian on the rounded pixel, cut to its 3-sigma square window.

    Per joint and axis (all in heatmap pixels, ``int`` = truncation toward zero as in HRNet):
    ``mu = int(p / stride + 0.5)``, window ``[ul, br)`` with ``ul = int(mu - 3 sigma)``,
    ``br = int(mu + 3 sigma + 1)``, peak at ``ul + floor((6 sigma + 1) / 2)`` (``mu`` itself
    unless ``3 sigma`` is fractional and the window starts left of or above the map). The
    weight is 0 for an unlabelled joint and where ``ul >= W`` or ``ul_y >= H`` or ``br < 0``
    or ``br_y < 0``; a window that ends exactly at the border (``br == 0``) keeps weight 1 with
    an empty map, as in HRNet.

    Args / Returns: as ``encode_heatmaps``.
    """
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    stride = np.array([image_size[0] / hm_w, image_size[1] / hm_h])
    radius = 3.0 * sigma
    mu = np.trunc(kps / stride + 0.5)
    ul = np.trunc(mu - radius)
    br = np.trunc(mu + radius + 1.0)
    peak = ul + (2.0 * radius + 1.0) // 2
    vis = np.asarray(visible, dtype=np.float64).reshape(-1) > 0
    weights = vis & (ul[:, 0] < hm_w) & (ul[:, 1] < hm_h) & (br[:, 0] >= 0) & (br[:, 1] >= 0)
    grid, axis = _gaussian_grid(hm_w, hm_h)
    inside = (grid >= ul[:, axis]) & (grid < br[:, axis])
    g = np.exp(-((grid - peak[:, axis]) ** 2) / (2.0 * sigma ** 2)) * inside
    gx, gy = g[:, None, :hm_w], g[:, hm_w:, None] * weights[:, None, None]
    return (gy * gx).astype(np.float32), weights.astype(np.float32)


def encode_heatmaps_subpixel(keypoints, visible, image_size, heatmap_size, sigma: float):
    """Targets centred at the exact sub-pixel joint location, not cut.

    The weight is 0 for an unlabelled joint and for one whose 3-sigma window
    ``[mu - 3 sigma, mu + 3 sigma]`` misses the map.

    Args / Returns: as ``encode_heatmaps``.
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    mu = kps / np.array([image_size[0] / hm_w, image_size[1] / hm_h])
    radius = 3.0 * sigma
    # A joint whose 3-sigma window misses the map gets weight 0. A Python loop
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
    """Integer argmax per heatmap (HRNet's ``get_max_preds``).

    Args:
        heatmaps: (N, K, H, W) float.
    Returns:
        coords: (N, K, 2) float32 ``(x, y)``, ``(0, 0)`` where the maximum is not positive
        (HRNet multiplies those by 0); maxvals: (N, K) float32.
    """
    hms = np.asarray(heatmaps)
    n, k, h, w = hms.shape
    flat = hms.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0].astype(np.float32)
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords[~(maxvals > 0)] = 0
    return coords, maxvals


def refine_quarter_offset(heatmaps, coords):
    """Move each peak a quarter pixel toward its higher neighbour, per axis (HRNet's rule).

    Both axes are refined, or neither: only where ``1 < px < W - 1`` and ``1 < py < H - 1``
    (HRNet's ``get_final_preds``; a peak in column 1 or row 1 stays put too). An axis whose
    two neighbours are equal does not move.

    Args:
        heatmaps: (N, K, H, W); coords: (N, K, 2) integer-valued peaks.
    Returns:
        (N, K, 2) float32 refined coordinates.
    """
    hms = np.asarray(heatmaps)
    n, k, h, w = hms.shape
    out = np.asarray(coords, dtype=np.float32).reshape(n * k, 2)
    px = np.floor(out[:, 0] + 0.5).astype(np.int64)
    py = np.floor(out[:, 1] + 0.5).astype(np.int64)
    ok = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    # Peaks that are not refined read a harmless in-range pixel and are masked below.
    px, py = np.where(ok, px, 1), np.where(ok, py, 1)
    flat = hms.reshape(n * k, h * w)
    rows = np.arange(n * k)
    dx = flat[rows, py * w + px + 1] - flat[rows, py * w + px - 1]
    dy = flat[rows, (py + 1) * w + px] - flat[rows, (py - 1) * w + px]
    shift = np.where(ok[:, None], np.sign(np.stack([dx, dy], -1)), 0.0)
    return (out + 0.25 * shift).reshape(n, k, 2).astype(np.float32)


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

    ``image_size`` and ``heatmap_size`` are ``(w, h)``; ``sigma`` is in heatmap pixels;
    ``encoding`` is ``"hrnet"`` or ``"subpixel"`` (see ``encode_heatmaps``).
    """

    image_size: tuple
    heatmap_size: tuple
    sigma: float = 2.0
    encoding: str = "hrnet"

    @property
    def stride(self) -> np.ndarray:
        return np.array([self.image_size[0] / self.heatmap_size[0],
                         self.image_size[1] / self.heatmap_size[1]], dtype=np.float32)

    def encode(self, keypoints, visible):
        """keypoints: (K, 2) crop px -> heatmaps (K, H, W) float32, target_weight (K,)."""
        return encode_heatmaps(keypoints, visible, self.image_size, self.heatmap_size, self.sigma,
                               self.encoding)

    def decode(self, heatmaps, method: str = "quarter"):
        """heatmaps: (N, K, H, W) -> crop-pixel coords (N, K, 2) float32, scores (N, K)."""
        coords, maxvals = decode_heatmaps(heatmaps, method)
        return coords * self.stride, maxvals
