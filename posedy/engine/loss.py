"""Heatmap regression losses (HRNet's ``JointsMSELoss`` and ``JointsOHKMMSELoss``).

HRNet's scaling is kept so loss values are comparable with its logs: per joint
``0.5 * mean((w * pred - w * gt) ** 2)`` over batch and pixels, averaged over joints. The
weight multiplies prediction and target, so it enters squared, as in HRNet. With online
hard keypoint mining (OHKM) the per-sample, per-joint losses are ranked and only the
``topk`` hardest joints of each sample are averaged.
"""

import torch
from torch import nn


class JointsMSELoss(nn.Module):
    """Weighted heatmap MSE, optionally with online hard keypoint mining.

    Args:
        use_target_weight: multiply prediction and target by ``target_weight`` (visibility,
            times a per-joint weight when the dataset applies one).
        ohkm: average only the ``topk`` largest per-joint losses of each sample.
        topk: joints kept per sample by OHKM; must not exceed the number of joints.
    Shapes: ``output``, ``target`` (N, K, H, W) float; ``target_weight`` (N, K, 1) or (N, K)
    float -> scalar float tensor.
    """

    def __init__(self, use_target_weight: bool = True, ohkm: bool = False, topk: int = 8):
        super().__init__()
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.use_target_weight = use_target_weight
        self.ohkm = ohkm
        self.topk = topk

    def per_joint(self, output: torch.Tensor, target: torch.Tensor,
                  target_weight: torch.Tensor) -> torch.Tensor:
        """Per-sample, per-joint loss ``0.5 * mean_pixels((w*pred - w*gt)^2)``: (N, K)."""
        if output.shape != target.shape:
            raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ")
        n, k = output.shape[:2]
        pred = output.reshape(n, k, -1).float()
        gt = target.reshape(n, k, -1).float()
        if self.use_target_weight:
            weight = target_weight.reshape(n, k, 1).float()
            pred = pred * weight
            gt = gt * weight
        return 0.5 * (pred - gt).pow(2).mean(dim=2)

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weight: torch.Tensor) -> torch.Tensor:
        losses = self.per_joint(output, target, target_weight)
        if not self.ohkm:
            # Mean over joints of the per-joint batch mean equals the mean over (N, K).
            return losses.mean()
        if self.topk > losses.shape[1]:
            raise ValueError(f"OHKM topk={self.topk} exceeds the number of joints {losses.shape[1]}")
        hardest, _ = torch.topk(losses, k=self.topk, dim=1, sorted=False)
        return hardest.mean()
