"""Parameters and multiply-adds (MAdds) measured with forward hooks on a real forward pass.

What is counted, as the paper counts it (Section 3.2): convolutions, transposed convolutions
and linear layers. Normalisation, activations, pooling (other than a dynamic convolution's
attention pooling), upsampling and residual additions are free.

- ``nn.Conv2d``: ``H_out * W_out * C_in / groups * C_out * kh * kw``.
- ``nn.ConvTranspose2d``: the true cost, every input pixel times every weight
  ``H_in * W_in * C_in * C_out / groups * kh * kw`` (not output pixels times weights, which
  would count the zeros a strided transposed convolution skips).
- ``nn.Linear``: ``in_features * out_features`` per row of the input.
- ``DynamicConv2d``: the convolution with the aggregated kernel (as ``nn.Conv2d``), plus the
  attention ``H * W * C_in`` (average pooling) ``+ C_in * hidden + hidden * K`` (two FC layers),
  plus the aggregation ``K * C_in / groups * C_out * kh * kw + K * C_out`` (``K * C_out`` only
  when the layer has a bias). Its attention's ``nn.Linear`` layers are not counted a second time.

Counts are per image: the forward pass uses a batch of one.
"""

from dataclasses import dataclass
from typing import Dict, Tuple, Union

import torch
from torch import nn

from posedy.layers import DynamicConv2d


@dataclass(frozen=True)
class Complexity:
    """Parameter count and multiply-adds of one module (or a part of one) for one image."""
    params: int
    madds: int

    def __add__(self, other: "Complexity") -> "Complexity":
        return Complexity(self.params + other.params, self.madds + other.madds)

    def as_dict(self) -> Dict[str, int]:
        return {"params": self.params, "madds": self.madds}


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def conv_madds(layer: nn.Conv2d, output: torch.Tensor) -> int:
    """MAdds of a static convolution for one image producing ``output`` (1, C_out, H, W)."""
    per_pixel = layer.in_channels // layer.groups * layer.out_channels * _prod(layer.kernel_size)
    return _prod(output.shape[2:]) * per_pixel


def conv_transpose_madds(layer: nn.ConvTranspose2d, inputs: torch.Tensor) -> int:
    """MAdds of a transposed convolution: every input pixel meets every weight once."""
    weights = layer.in_channels * (layer.out_channels // layer.groups) * _prod(layer.kernel_size)
    return _prod(inputs.shape[2:]) * weights


def dynamic_conv_madds(layer: DynamicConv2d, inputs: torch.Tensor, output: torch.Tensor) -> Dict[str, int]:
    """The three parts of a dynamic convolution's cost (paper Section 3.2) for one image.

    Returns:
        ``{"conv": ..., "attention": ..., "aggregation": ...}``.
    """
    kernel = layer.in_channels // layer.groups * layer.out_channels * _prod(layer.kernel_size)
    k = layer.num_kernels
    hidden = layer.attention.fc1.out_features
    attention = _prod(inputs.shape[2:]) * layer.in_channels + layer.in_channels * hidden + hidden * k
    aggregation = k * kernel + (k * layer.out_channels if layer.bias is not None else 0)
    return {"conv": _prod(output.shape[2:]) * kernel, "attention": attention, "aggregation": aggregation}


def _module_madds(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    if isinstance(module, DynamicConv2d):
        return sum(dynamic_conv_madds(module, inputs, output).values())
    if isinstance(module, nn.Conv2d):
        return conv_madds(module, output)
    if isinstance(module, nn.ConvTranspose2d):
        return conv_transpose_madds(module, inputs)
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features * (output.numel() // module.out_features)
    return 0


def _input_tensor(input_size: Union[int, Tuple[int, int]], module: nn.Module, in_channels: int) -> torch.Tensor:
    w, h = (input_size, input_size) if isinstance(input_size, int) else input_size
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    return torch.zeros(1, in_channels, h, w, device=device)


def madds_by_module(module: nn.Module, input_size: Union[int, Tuple[int, int]], in_channels: int = 3) -> Dict[str, int]:
    """MAdds of every counted layer of ``module`` for one ``(w, h)`` (or square) input of
    ``in_channels`` channels (an RGB image by default).

    Returns:
        ``{qualified module name: madds}`` for the counted layers that ran (a layer called
        twice is summed).
    """
    counted = {}
    inside_dynamic = set()
    for name, m in module.named_modules():
        if isinstance(m, DynamicConv2d):
            inside_dynamic.update(id(sub) for sub in m.modules() if sub is not m)
    for name, m in module.named_modules():
        if id(m) not in inside_dynamic and isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, DynamicConv2d)):
            counted[name] = m
    totals: Dict[str, int] = {}
    handles = []

    def hook_for(name):
        def hook(m, args, output):
            totals[name] = totals.get(name, 0) + _module_madds(m, args[0], output)
        return hook

    try:
        for name, m in counted.items():
            handles.append(m.register_forward_hook(hook_for(name)))
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                module(_input_tensor(input_size, module, in_channels))
        finally:
            module.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return totals


def count_params(module: nn.Module) -> int:
    """All parameters (trainable or not; buffers such as BN statistics are not parameters)."""
    return sum(p.numel() for p in module.parameters())


def count_complexity(module: nn.Module, input_size: Union[int, Tuple[int, int]] = 224,
                     in_channels: int = 3) -> Complexity:
    """Parameters and per-image MAdds of ``module`` at ``input_size`` (``(w, h)`` or square side)."""
    return Complexity(count_params(module), sum(madds_by_module(module, input_size, in_channels).values()))


def pose_complexity(model: nn.Module, input_size: Union[int, Tuple[int, int]] = (192, 256)) -> Dict[str, Complexity]:
    """Backbone, head and total complexity of a pose model with ``.backbone`` and ``.head``,
    from one forward pass at ``input_size`` ``(w, h)``.

    Returns:
        ``{"backbone": Complexity, "head": Complexity, "total": Complexity}``.
    """
    madds = madds_by_module(model, input_size)
    parts = {}
    for part in ("backbone", "head"):
        sub = getattr(model, part)
        sub_madds = sum(v for name, v in madds.items() if name.startswith(part + "."))
        parts[part] = Complexity(count_params(sub), sub_madds)
    parts["total"] = Complexity(count_params(model), sum(madds.values()))
    return parts
