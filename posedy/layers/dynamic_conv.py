"""Dynamic convolution: K kernels aggregated per sample by attention (Chen et al., CVPR 2020).

``DynamicConv2d`` keeps ``nn.Conv2d``'s constructor and one-argument ``forward`` so it drops
into ``nn.Sequential`` and any block that takes a conv layer. Its attention branch is the
paper's Figure 3: global average pool -> FC (C_in -> C_in/4) -> ReLU -> FC (-> K) ->
softmax(z / tau). The aggregated kernel and bias are ``sum_k pi_k W_k`` and ``sum_k pi_k b_k``.
"""

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .depthwise import _pair, depthwise_conv2d

INSPECTION_MODES = ("attention", "average", "max", "shuffle_kernels", "shuffle_images")
# How the per-sample kernels are applied (``DynamicConv2d.implementation``):
#   "auto"     - pick per layer type: 1x1 dense -> "bmm", otherwise "grouped" (measured on CPU,
#                docs/benchmarks.md); batch 1 always convolves with the one aggregated kernel.
#   "bmm"      - 1x1 dense only: (N, C_out, C_in) @ (N, C_in, H*W), batch-agnostic.
#   "grouped"  - the batch folded into conv groups (one conv call; batch size enters the graph).
#   "branches" - sum_k pi_k conv(x, W_k): K static convolutions, batch-agnostic, exact, K times the
#                FLOPs; for export with a dynamic batch (ONNX Conv needs a constant group count).
IMPLEMENTATIONS = ("auto", "bmm", "grouped", "branches")


@dataclass(frozen=True)
class AttentionKind:
    """How the logits z (N, K) become kernel weights: ``function(z / tau)`` when
    ``divides_by_tau``, else ``function(z)``. ``onnx_op`` and ``onnx_attrs`` are that last step
    as an ONNX node, for graph builders that write the attention out node by node."""
    function: Callable
    divides_by_tau: bool
    sums_to_one: bool
    onnx_op: str
    onnx_attrs: tuple = ()


ATTENTION_KINDS = {
    # The paper's softmax(z / tau).
    "softmax": AttentionKind(partial(torch.softmax, dim=1), True, True, "Softmax", (("axis", 1),)),
    # CondConv's per-kernel sigmoid: no temperature, no sum-to-one.
    "sigmoid": AttentionKind(torch.sigmoid, False, False, "Sigmoid"),
}


def _global_average_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, *spatial) -> (N, C) mean over every axis after the second: an (H, W) map or its
    (H * W,) flattened view. Written as a sum then a scale of the small result: the backward of
    ``sum`` is a broadcast view, while ``mean``'s backward materialises a full input-sized
    division before it is added to the input's gradient."""
    return x.sum(dim=tuple(range(2, x.dim()))) * (1.0 / math.prod(x.shape[2:]))


class KernelAttention(nn.Module):
    """Attention over K kernels: pool -> FC -> ReLU -> FC -> softmax(z / tau) (or sigmoid).

    Args:
        in_channels: C_in of the input feature map.
        num_kernels: K.
        reduction: hidden width is ``max(C_in // reduction, min_hidden)``.
        kind: a key of ``ATTENTION_KINDS`` (``"softmax"``, ``"sigmoid"``).
    Shapes: ``x`` (N, C_in, H, W) -> (N, K) float.
    """

    def __init__(self, in_channels: int, num_kernels: int, reduction: int = 4,
                 min_hidden: int = 4, kind: str = "softmax"):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {tuple(ATTENTION_KINDS)}, got {kind!r}")
        hidden = max(in_channels // reduction, min_hidden)
        self.fc1 = nn.Linear(in_channels, hidden)
        self.fc2 = nn.Linear(hidden, num_kernels)
        self.kind = kind

    @property
    def spec(self) -> AttentionKind:
        return ATTENTION_KINDS[self.kind]

    @property
    def sums_to_one(self) -> bool:
        """Whether the K weights sum to one (what exact BatchNorm folding needs)."""
        return self.spec.sums_to_one

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled: (N, C_in) -> z: (N, K). Functional calls: no module-call overhead per layer."""
        hidden = F.relu(F.linear(pooled, self.fc1.weight, self.fc1.bias))
        return F.linear(hidden, self.fc2.weight, self.fc2.bias)

    def from_pooled(self, pooled: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
        """The attention: (N, C_in) pooled input -> (N, K) kernel weights. Every path of
        ``DynamicConv2d`` comes here; ``deploy/ort_nchwc.py`` writes the same steps as ONNX."""
        spec = self.spec
        z = self.logits(pooled)
        return spec.function(z / temperature if spec.divides_by_tau else z)

    def forward(self, x: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
        return self.from_pooled(_global_average_pool(x), temperature)


class DynamicConv2d(nn.Module):
    """Drop-in replacement for ``nn.Conv2d`` with K attention-weighted kernels.

    Args: as ``nn.Conv2d`` (in_channels, out_channels, kernel_size, stride, padding,
    dilation, groups, bias), plus
        num_kernels: K (default 4).
        temperature: initial softmax temperature tau (default 30), kept in a buffer.
        reduction: attention hidden width is C_in / reduction (default 4).
        attention: ``"softmax"`` (the paper) or ``"sigmoid"`` (CondConv, no sum-to-one).
    Attributes:
        weight: (K, C_out, C_in / groups, kh, kw); bias: (K, C_out) or None.
        mode: inspection mode (Tables 3 and 4): ``"attention"`` (default), ``"average"``,
            ``"max"`` (argmax kernel), ``"shuffle_kernels"`` (attention permuted over kernels
            per image), ``"shuffle_images"`` (attention of another image in the batch).
        record_attention: when True, ``last_attention`` holds the (N, K) attention used.
    Shapes: (N, C_in, H, W) -> (N, C_out, H_out, W_out).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *, num_kernels: int = 4,
                 temperature: float = 30.0, reduction: int = 4, attention: str = "softmax"):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must be divisible by groups ({groups})")
        if num_kernels < 1:
            raise ValueError(f"num_kernels must be >= 1, got {num_kernels}")
        if isinstance(padding, str):
            raise ValueError("string padding is not supported; pass integers")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.num_kernels = num_kernels
        self.weight = nn.Parameter(torch.empty(num_kernels, out_channels, in_channels // groups,
                                               *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(num_kernels, out_channels)) if bias else None
        self.attention = KernelAttention(in_channels, num_kernels, reduction, kind=attention)
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.mode = "attention"
        self.implementation = "auto"
        self.record_attention = False
        self.last_attention = None
        self._generator = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Each kernel gets nn.Conv2d's own initialisation with the fan of one kernel; the
        # fan of the 5-D tensor would be K times too large along dim 1.
        fan_in = (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        for k in range(self.num_kernels):
            nn.init.kaiming_uniform_(self.weight[k], a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def set_temperature(self, tau: float) -> None:
        if tau <= 0:
            raise ValueError(f"temperature must be positive, got {tau}")
        self.temperature.fill_(float(tau))

    def set_mode(self, mode: str, generator: torch.Generator = None) -> None:
        """Switch the inspection mode; ``generator`` seeds the shuffle modes."""
        if mode not in INSPECTION_MODES:
            raise ValueError(f"mode must be one of {INSPECTION_MODES}, got {mode!r}")
        self.mode = mode
        self._generator = generator

    def compute_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention actually used for aggregation under the current mode: (N, K)."""
        n = x.shape[0]
        k = self.num_kernels
        if self.mode == "average":
            pi = x.new_full((n, k), 1.0 / k)
        else:
            pi = self.attention(x, self.temperature)
            if self.mode == "max":
                pi = F.one_hot(pi.argmax(dim=1), k).to(pi.dtype)
            elif self.mode == "shuffle_kernels":
                perms = torch.stack([_derangement(k, self._generator) for _ in range(n)])
                pi = torch.gather(pi, 1, perms.to(pi.device))
            elif self.mode == "shuffle_images" and n > 1:
                pi = pi[_derangement(n, self._generator).to(pi.device)]
        if self.record_attention:
            self.last_attention = pi.detach()
        return pi

    def aggregate(self, pi: torch.Tensor):
        """Per-sample kernels from attention with one matrix product.

        Args:
            pi: (N, K).
        Returns:
            weight: (N, C_out, C_in / groups, kh, kw); bias: (N, C_out) or None.
        """
        n = pi.shape[0]
        weight = torch.mm(pi, self.weight.reshape(self.num_kernels, -1))
        weight = weight.reshape(n, *self.weight.shape[1:])
        bias = torch.mm(pi, self.bias) if self.bias is not None else None
        return weight, bias

    @property
    def is_pointwise(self) -> bool:
        """A dense 1x1 convolution without padding: it is a matrix product per sample."""
        return self.kernel_size == (1, 1) and self.groups == 1 and self.padding == (0, 0)

    @property
    def is_depthwise(self) -> bool:
        """One filter per channel: ``groups == in_channels == out_channels``."""
        return self.groups == self.in_channels == self.out_channels

    def set_implementation(self, implementation: str) -> None:
        """Choose how per-sample kernels are applied (see ``IMPLEMENTATIONS``)."""
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        if implementation == "bmm" and not self.is_pointwise:
            raise ValueError("implementation 'bmm' needs a 1x1 convolution with groups=1 and padding 0")
        self.implementation = implementation

    def _pointwise_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The "bmm" path with attention computed from the same (N, C, H*W) view the product reads.

        In backward the pooling's gradient and the product's then meet at that one view and are
        summed in place into the product's fresh gradient; pooling ``x`` itself would make
        autograd add two input-sized gradients into a new tensor (measured 2% of a training step).
        """
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w)
        pi = self.attention.from_pooled(_global_average_pool(flat), self.temperature)
        return self._batched_product(flat, pi, h, w)

    def _batched_product(self, flat: torch.Tensor, pi: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """1x1 convolution as (N, C_out, C_in) @ ``flat`` (N, C_in, h * w) -> (N, C_out, h, w)."""
        weight, bias = self.aggregate(pi.to(self.weight.dtype))
        n, c = flat.shape[:2]
        weight = weight.reshape(n, self.out_channels, c)
        if bias is None:
            out = torch.bmm(weight, flat)
        else:
            out = torch.baddbmm(bias.unsqueeze(2), weight, flat)
        return out.reshape(n, self.out_channels, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "attention" and not self.record_attention:
            impl = self.implementation
            if (impl == "bmm" or (impl == "auto" and self.is_pointwise)) and self.stride == (1, 1):
                return self._pointwise_forward(x)
            # compute_attention's "attention" mode without the module call.
            pi = self.attention.from_pooled(_global_average_pool(x), self.temperature)
        else:
            pi = self.compute_attention(x)
        return self.apply_attention(x, pi)

    def apply_attention(self, x: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
        """Convolve each sample of ``x`` (N, C_in, H, W) with its kernel ``sum_k pi[n, k] W_k``.

        ``pi``: (N, K). Returns (N, C_out, H_out, W_out). The path follows ``implementation``.
        """
        impl = self.implementation
        if impl == "auto":
            impl = "bmm" if self.is_pointwise else "grouped"
        if impl == "branches":
            return self._branches(x, pi.to(self.weight.dtype))
        if impl == "bmm":
            if self.stride != (1, 1):
                x = x[:, :, ::self.stride[0], ::self.stride[1]]
            n, c, h, w = x.shape
            return self._batched_product(x.reshape(n, c, h * w), pi, h, w)
        weight, bias = self.aggregate(pi.to(self.weight.dtype))
        n, c, h, w = x.shape
        if n == 1:
            return F.conv2d(x, weight[0], None if bias is None else bias[0], self.stride,
                            self.padding, self.dilation, self.groups)
        # Grouped-convolution trick: the batch becomes groups, so one conv call serves all.
        x = x.reshape(1, n * c, h, w)
        weight = weight.reshape(-1, *weight.shape[2:])
        bias = None if bias is None else bias.reshape(-1)
        if self.is_depthwise:
            out = depthwise_conv2d(x, weight, bias, self.stride, self.padding, self.dilation)
        else:
            out = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups * n)
        return out.reshape(n, self.out_channels, out.shape[2], out.shape[3])

    def _branches(self, x: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
        """sum_k pi_k (W_k * x + b_k) with one static conv of K * C_out channels.

        Exact for any attention (the convolution is linear in its kernel). Output channels are
        ordered group by group, each group holding its K kernels' channels together, so the
        grouped structure of the convolution is preserved.
        """
        k, g = self.num_kernels, self.groups
        cout_g = self.out_channels // g
        # (K, C_out, ...) -> (G, K, C_out/G, ...) -> (G * K * C_out/G, ...)
        weight = self.weight.reshape(k, g, cout_g, *self.weight.shape[2:]).transpose(0, 1)
        out = F.conv2d(x, weight.reshape(-1, *self.weight.shape[2:]), None, self.stride,
                       self.padding, self.dilation, g)
        n, h, w = out.shape[0], out.shape[2], out.shape[3]
        out = out.reshape(n, g, k, cout_g, h, w)
        out = (out * pi.reshape(n, 1, k, 1, 1, 1)).sum(dim=2).reshape(n, self.out_channels, h, w)
        if self.bias is not None:
            out = out + torch.mm(pi, self.bias).reshape(n, self.out_channels, 1, 1)
        return out

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, num_kernels={self.num_kernels}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


def _derangement(n: int, generator=None) -> torch.Tensor:
    """A random permutation of range(n) with no fixed point (identity when n == 1)."""
    if n == 1:
        return torch.zeros(1, dtype=torch.long)
    shift = int(torch.randint(1, n, (1,), generator=generator))
    perm = torch.randperm(n, generator=generator)
    out = torch.empty_like(perm)
    out[perm] = perm.roll(-shift)
    return out


def named_dynamic_layers(module: nn.Module):
    """``(name, DynamicConv2d)`` pairs of ``module`` in definition order."""
    return [(name, m) for name, m in module.named_modules() if isinstance(m, DynamicConv2d)]


def dynamic_layers(module: nn.Module):
    """All DynamicConv2d layers of ``module`` in definition order."""
    return [m for _, m in named_dynamic_layers(module)]


@torch.no_grad()
def copy_first_kernel(module: nn.Module) -> int:
    """Make kernels 1..K-1 of every dynamic layer of ``module`` copies of kernel 0 (weight and
    bias), in place; returns how many layers were set.

    With independently drawn kernels, near-uniform attention (tau = 30) passes the same gradient
    to every kernel, so their differences stay those of the initialisation until the attention
    sharpens, and the average kernel starts at 1 / sqrt(K) of a static kernel's scale. Copies
    start the network as its static twin; kernels then differ only as far as the attention
    weights their gradients differently (as MoE "upcycling" starts experts from one dense layer).
    """
    layers = dynamic_layers(module)
    for layer in layers:
        layer.weight[1:] = layer.weight[:1]
        if layer.bias is not None:
            layer.bias[1:] = layer.bias[:1]
    return len(layers)


def set_temperature(module: nn.Module, tau: float) -> int:
    """Set tau on every dynamic layer of ``module``; returns how many layers were set."""
    layers = dynamic_layers(module)
    for layer in layers:
        layer.set_temperature(tau)
    return len(layers)


def get_temperature(module: nn.Module):
    """The tau of the first dynamic layer, or None for a static model."""
    layers = dynamic_layers(module)
    return float(layers[0].temperature) if layers else None


def set_inspection_mode(layers, mode: str, generator: torch.Generator = None) -> None:
    """Set the inspection mode on a module (all its dynamic layers) or an iterable of layers."""
    if isinstance(layers, nn.Module):
        layers = dynamic_layers(layers)
    for layer in layers:
        layer.set_mode(mode, generator)


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with every 4-D parameter and buffer in ``torch.channels_last`` memory format,
    in place; returns it. ``module.to(memory_format=torch.channels_last)`` refuses any model with
    a ``DynamicConv2d``: its kernel bank (K, C_out, C_in / groups, kh, kw) is 5-D, a rank that
    format does not have, so it stays as it is (the aggregated per-sample kernels are made anew
    at every call)."""
    def convert(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.contiguous(memory_format=torch.channels_last) if tensor.dim() == 4 else tensor

    for sub in module.modules():
        for param in sub.parameters(recurse=False):
            param.data = convert(param.data)
        for name, buffer in sub.named_buffers(recurse=False):
            setattr(sub, name, convert(buffer))
    return module


def linear_temperature(step: int, total_steps: int, start: float = 30.0, end: float = 1.0) -> float:
    """The paper's annealing (Section 4.2): tau falls linearly from ``start`` to ``end``
    over ``total_steps`` iterations, then stays at ``end``."""
    if total_steps <= 0 or step >= total_steps:
        return float(end)
    return float(start + (end - start) * step / total_steps)
