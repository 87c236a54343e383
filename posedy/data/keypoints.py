"""COCO person keypoint metadata, written down once.

Indices follow COCO's order: 0 nose, 1 left_eye, 2 right_eye, 3 left_ear, 4 right_ear,
5 left_shoulder, 6 right_shoulder, 7 left_elbow, 8 right_elbow, 9 left_wrist, 10 right_wrist,
11 left_hip, 12 right_hip, 13 left_knee, 14 right_knee, 15 left_ankle, 16 right_ankle.
"""

import numpy as np

COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_COCO_KEYPOINTS = len(COCO_KEYPOINT_NAMES)

COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

# 0-based limbs of the COCO skeleton (the annotation file lists them 1-based).
COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

# Per-keypoint OKS sigmas from the COCO evaluation code.
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
     1.07, 1.07, 0.87, 0.87, 0.89, 0.89], dtype=np.float64) / 10.0

COCO_UPPER_BODY_IDS = tuple(range(0, 11))
COCO_LOWER_BODY_IDS = tuple(range(11, 17))

# HRNet's per-joint loss weights (elbows/knees 1.2, wrists/ankles 1.5), used when enabled.
COCO_JOINT_WEIGHTS = np.array(
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5],
    dtype=np.float32)


def flip_permutation(num_joints: int, flip_pairs) -> np.ndarray:
    """Index array that swaps left/right joints: ``flipped = x[..., perm, ...]``.

    Returns: (num_joints,) int64.
    """
    perm = np.arange(num_joints)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm


def flip_pairs_for(num_joints: int, flip_pairs=COCO_FLIP_PAIRS) -> tuple:
    """The ``(left, right)`` pairs of ``flip_pairs`` whose joints both exist in a model of
    ``num_joints`` joints (a model may predict only COCO's first joints).

    Returns: tuple of ``(left, right)`` int pairs.
    """
    return tuple((a, b) for a, b in flip_pairs if max(a, b) < num_joints)
