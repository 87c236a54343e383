"""From heatmaps to joints in image coordinates.

The heatmap decoding itself (argmax + quarter offset or DARK) lives in
``posedy.data.codec``; this module only composes it with the inverse crop affine.
"""

import numpy as np

from posedy.data.codec import decode_heatmaps
from posedy.data.geometry import heatmap_to_image


def decode_to_image(heatmaps, center, scale, method: str = "quarter"):
    """Decode heatmaps of crops and map the joints back to their images.

    Args:
        heatmaps: (N, K, H, W) float heatmaps of un-rotated, un-flipped crops.
        center: (N, 2) crop centres ``(x, y)`` in image pixels.
        scale: (N, 2) crop regions ``(w, h)`` in image pixels.
        method: ``"quarter"``, ``"dark"`` or ``"argmax"`` (see ``decode_heatmaps``).
    Returns:
        keypoints: (N, K, 3) float64 ``(x, y, score)``; the score is the heatmap maximum.
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    n, k, h, w = heatmaps.shape
    coords, maxvals = decode_heatmaps(heatmaps, method)
    xy = heatmap_to_image(coords, np.asarray(center).reshape(n, 2),
                          np.asarray(scale).reshape(n, 2), (w, h))
    return np.concatenate([xy, maxvals[..., None].astype(np.float64)], axis=-1)
