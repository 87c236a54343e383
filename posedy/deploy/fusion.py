"""Evaluation-time conversions: BatchNorm folded into the preceding static or dynamic conv.

For a static conv, ``BN(W * x + b) = (a W) * x + a (b - mu) + beta`` with ``a = gamma / sqrt(var +
eps)``. For a dynamic conv with softmax attention the same folding is exact per kernel: since
``sum_k pi_k = 1``,

    a (sum_k pi_k W_k * x + sum_k pi_k b_k) - a mu + beta
        = sum_k pi_k (a W_k) * x + sum_k pi_k (a b_k - a mu + beta),

so every kernel gets the scale and every per-kernel bias gets the shift. With sigmoid attention
the weights do not sum to one and the pair is left unfused.
"""

import copy

import torch
from torch import nn

from posedy.layers import DepthwiseConv2d, DynamicConv2d


def bn_scale_shift(bn: nn.BatchNorm2d):
    """Per-channel (scale, shift) of an eval-mode BatchNorm: y = scale * x + shift; (C,) each."""
    var = bn.running_var
    mean = bn.running_mean
    gamma = bn.weight if bn.affine else torch.ones_like(var)
    beta = bn.bias if bn.affine else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - mean * scale


def can_fuse(conv: nn.Module, bn: nn.Module) -> bool:
    """Whether ``bn`` directly after ``conv`` can be folded into it exactly."""
    if not isinstance(bn, nn.BatchNorm2d) or not bn.track_running_stats or bn.running_mean is None:
        return False
    if isinstance(conv, DynamicConv2d):
        return conv.attention.sums_to_one and conv.out_channels == bn.num_features
    return (type(conv) in (nn.Conv2d, DepthwiseConv2d) and conv.out_channels == bn.num_features
            and conv.padding_mode == "zeros")


@torch.no_grad()
def fuse_conv_bn(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    """A copy of ``conv`` (bias added) equal to ``bn(conv(x))`` with ``bn`` in eval mode.

    ``conv``: ``nn.Conv2d`` or ``DynamicConv2d`` with sum-to-one attention (checked by ``can_fuse``).
    The result has the dtype and device of ``conv.weight``; ``conv`` itself is left unchanged.
    """
    if not can_fuse(conv, bn):
        raise ValueError(f"cannot fold {type(bn).__name__} into {conv!r}")
    scale, shift = bn_scale_shift(bn)
    scale = scale.to(conv.weight.dtype)
    shift = shift.to(conv.weight.dtype)
    # A copy keeps every setting of the layer (attention, reduction, mode, implementation, ...);
    # a generator (shuffle modes) stays shared, as an attribute of the model, not copied.
    memo = {id(v): v for v in vars(conv).values() if isinstance(v, torch.Generator)}
    fused = copy.deepcopy(conv, memo)
    # Output channels: dim 0 of an nn.Conv2d weight (C_out, ...), dim 1 of a dynamic one (K, C_out, ...).
    channel_dim = 1 if isinstance(conv, DynamicConv2d) else 0
    shape = [1] * conv.weight.dim()
    shape[channel_dim] = -1
    bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.weight.shape[:channel_dim + 1])
    fused.weight = nn.Parameter(conv.weight * scale.reshape(shape))
    fused.bias = nn.Parameter(bias * scale + shift)
    return fused


def fuse_bn(model: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a conv inside an ``nn.Sequential``.

    Works in place: the conv is replaced by its fused copy and the BatchNorm by ``nn.Identity``,
    so module names and the forward structure stay as they were. Puts ``model`` in eval mode
    (the folded network computes eval-mode BatchNorm only). Returns the number of pairs fused.
    """
    model.eval()
    fused = 0
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = module._modules[first], module._modules[second]
            if isinstance(conv, (nn.Conv2d, DynamicConv2d)) and can_fuse(conv, bn):
                module._modules[first] = fuse_conv_bn(conv, bn)
                module._modules[second] = nn.Identity()
                fused += 1
    return fused


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """Eval mode, BatchNorm folded, no attention recording: the shipped inference form.

    In place; returns ``model``. Dynamic layers keep ``implementation="auto"``.
    """
    fuse_bn(model)
    for module in model.modules():
        if isinstance(module, DynamicConv2d):
            module.record_attention = False
    for p in model.parameters():
        p.requires_grad_(False)
    return model
