"""Flip test: map the heatmaps of a mirrored crop back onto the original crop.

Why the one-pixel shift. The model sees the crop mirrored about its pixel grid,
``x_in -> (W_in - 1) - x_in`` (191 - x for a 192-wide crop). A joint at input pixel
``x_in`` sits at heatmap coordinate ``x_hm = x_in / 4`` (the codec's convention), so in
the mirrored crop it sits at ``(191 - x_in) / 4 = 47.75 - x_hm``. Mirroring the 48-wide
heatmap back, ``x -> 47 - x``, therefore lands it at ``x_hm - 0.75``: the flipped
prediction is three quarters of a heatmap pixel to the left of the truth. HRNet shifts
the flipped heatmap one pixel to the right (``out[..., 1:] = out[..., :-1]``), which
leaves a quarter pixel to the right instead, and we do the same so that checkpoints and
numbers stay comparable. Column 0 keeps its own value, as in HRNet.
"""

import numpy as np
import torch

from posedy.data.keypoints import flip_permutation


def flip_back(heatmaps, flip_pairs, shift: bool = True):
    """Heatmaps predicted on a horizontally mirrored crop, mapped back to the original crop.

    Mirrors each heatmap horizontally, swaps left/right joint channels and (``shift``)
    moves the result one pixel to the right (see the module docstring).

    Args:
        heatmaps: (N, K, H, W) ``numpy.ndarray`` or ``torch.Tensor``.
        flip_pairs: iterable of ``(left, right)`` joint indices.
        shift: apply HRNet's one-pixel shift.
    Returns:
        (N, K, H, W), same type, dtype and device as the input (a new array).
    """
    num_joints = heatmaps.shape[1]
    perm = flip_permutation(num_joints, flip_pairs)
    if isinstance(heatmaps, torch.Tensor):
        out = torch.flip(heatmaps, dims=(3,))[:, torch.as_tensor(perm, device=heatmaps.device)]
        if shift:
            out[..., 1:] = out[..., :-1].clone()
        return out
    out = np.ascontiguousarray(np.asarray(heatmaps)[:, perm, :, ::-1])
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out


def average_with_flipped(heatmaps, flipped_heatmaps, flip_pairs, shift: bool = True):
    """Flip-test fusion: mean of the original heatmaps and the flipped-back mirrored ones.

    Args:
        heatmaps: (N, K, H, W) from the original crops.
        flipped_heatmaps: (N, K, H, W) from the mirrored crops (not yet flipped back).
    Returns:
        (N, K, H, W), same type as ``heatmaps``.
    """
    return (heatmaps + flip_back(flipped_heatmaps, flip_pairs, shift)) * 0.5
