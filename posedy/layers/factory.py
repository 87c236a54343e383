"""The one place that decides whether a block gets a static or a dynamic convolution."""

from torch import nn

from .depthwise import DepthwiseConv2d
from .dynamic_conv import DynamicConv2d


def create_conv2d(in_channels: int, out_channels: int, kernel_size, stride=1, padding=None,
                  dilation=1, groups: int = 1, bias: bool = False, *, dynamic: bool = False,
                  num_kernels: int = 4, temperature: float = 30.0, attention: str = "softmax"):
    """Build ``nn.Conv2d`` (``DepthwiseConv2d`` for one filter per channel) or ``DynamicConv2d``.

    ``padding=None`` gives "same" padding ``dilation * (k - 1) // 2`` per axis.
    """
    ks = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    dil = dilation if isinstance(dilation, (tuple, list)) else (dilation, dilation)
    if padding is None:
        padding = tuple(d * (k - 1) // 2 for k, d in zip(ks, dil))
    if dynamic:
        return DynamicConv2d(in_channels, out_channels, tuple(ks), stride, padding, dilation,
                             groups, bias, num_kernels=num_kernels, temperature=temperature,
                             attention=attention)
    if groups == in_channels == out_channels and groups > 1:
        return DepthwiseConv2d(in_channels, tuple(ks), stride, padding, dilation, bias)
    return nn.Conv2d(in_channels, out_channels, tuple(ks), stride, padding, dilation, groups, bias)
