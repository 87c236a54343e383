"""The person record every data source produces and every dataset consumes."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PersonRecord:
    """One person instance to crop.

    Attributes:
        image_id: COCO image id.
        image_path: path of the image file.
        center: (2,) float32 ``(x, y)`` box centre in image pixels.
        scale: (2,) float32 ``(w, h)`` crop region in image pixels (aspect-fixed, padded).
        keypoints: (K, 3) float32 ``(x, y, visibility)``; zeros for detection boxes.
        score: box score (1.0 for ground truth).
        area: instance area (segmentation area for ground truth, box area for detections).
        bbox: (4,) float32 ``(x, y, w, h)`` after clipping.
    """

    image_id: int
    image_path: str
    center: np.ndarray
    scale: np.ndarray
    keypoints: np.ndarray
    score: float
    area: float
    bbox: np.ndarray
