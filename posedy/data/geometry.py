"""Box and crop geometry, as pure functions.

Conventions: points are ``(x, y)``, sizes are ``(w, h)``, arrays are ``(H, W)``.
A box's *scale* is its ``(w, h)`` in image pixels after the aspect-ratio fix and padding
(HRNet stores the same quantity divided by ``pixel_std=200``; we keep pixels).
Pixel centres are at integer coordinates, as in ``cv2.warpAffine``.
"""

import math

import numpy as np


def box_to_center_scale(box, aspect_ratio: float, padding: float = 1.25):
    """Convert a COCO box to the crop's centre and scale.

    Args:
        box: ``(x, y, w, h)`` in image pixels.
        aspect_ratio: crop width / height, e.g. ``192 / 256``.
        padding: enlargement factor applied after the aspect-ratio fix.
    Returns:
        center: (2,) float32 ``(x, y)``; scale: (2,) float32 ``(w, h)`` in pixels.
    """
    x, y, w, h = (float(v) for v in box)
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    scale = np.array([w * padding, h * padding], dtype=np.float32)
    return center, scale


def get_affine_transform(center, scale, rotation: float, output_size, flip: bool = False,
                         inv: bool = False) -> np.ndarray:
    """The one affine matrix that maps an image region to a crop.

    The region centred at ``center`` with width ``scale[0]`` maps onto ``output_size``
    (isotropic: the width fixes the zoom, as in HRNet, since ``scale`` already has the
    crop's aspect ratio). ``rotation`` (degrees) turns the content counter-clockwise on
    screen, as ``cv2.getRotationMatrix2D`` does. ``flip`` mirrors the crop about its
    pixel grid, ``x -> (out_w - 1) - x``, so rotation, scale, flip and crop compose into
    one warp with one interpolation.

    Args:
        center: (2,) ``(x, y)``; scale: (2,) ``(w, h)`` px; output_size: ``(w, h)``.
    Returns:
        (2, 3) float64 matrix mapping image points to crop points (crop to image if ``inv``).
    """
    out_w, out_h = float(output_size[0]), float(output_size[1])
    s = out_w / float(scale[0])
    theta = math.radians(rotation)
    cos, sin = math.cos(theta) * s, math.sin(theta) * s
    linear = np.array([[cos, sin], [-sin, cos]], dtype=np.float64)
    cx, cy = float(center[0]), float(center[1])
    tx, ty = (np.array([out_w * 0.5, out_h * 0.5]) - linear @ np.array([cx, cy])).tolist()
    if flip:
        # The mirror [[-1, 0, out_w - 1], [0, 1, 0]] composed after the crop, written out
        # (every product in it is by -1, 0 or 1, so this is exactly the matrix product).
        mat = np.array([[-cos, -sin, (out_w - 1.0) - tx], [-sin, cos, ty]])
    else:
        mat = np.array([[cos, sin, tx], [-sin, cos, ty]])
    if inv:
        mat = invert_affine(mat)
    return mat


def invert_affine(mat: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix. Returns (2, 3) float64."""
    mat = np.asarray(mat, dtype=np.float64)
    linear_inv = np.linalg.inv(mat[:, :2])
    return np.concatenate([linear_inv, -(linear_inv @ mat[:, 2:3])], axis=1)


def apply_affine(points, mat) -> np.ndarray:
    """Map points through a (2, 3) affine matrix.

    Args:
        points: (..., 2) ``(x, y)``; mat: (2, 3).
    Returns:
        (..., 2) float64.
    """
    pts = np.asarray(points, dtype=np.float64)
    mat = np.asarray(mat, dtype=np.float64)
    return pts @ mat[:, :2].T + mat[:, 2]


def heatmap_to_image(coords, center, scale, heatmap_size) -> np.ndarray:
    """Map heatmap coordinates back to image coordinates (no rotation, no flip).

    Args:
        coords: (N, K, 2) heatmap ``(x, y)``; center: (N, 2); scale: (N, 2) px;
        heatmap_size: ``(w, h)``.
    Returns:
        (N, K, 2) float64 image coordinates.
    """
    coords = np.asarray(coords, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64).reshape(-1, 1, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1, 1, 2)
    hm_w, hm_h = float(heatmap_size[0]), float(heatmap_size[1])
    # Inverse of get_affine_transform with rotation 0: isotropic zoom fixed by the width.
    zoom = scale[..., 0:1] / hm_w
    half = np.array([hm_w * 0.5, hm_h * 0.5])
    return (coords - half) * zoom + center
