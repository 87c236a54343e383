"""Building blocks shared by the backbones and heads.

Every convolution is built by an injected ``conv_layer`` callable with
``posedy.layers.create_conv2d``'s signature, so the block only says *whether* a convolution is
dynamic and the factory decides what that means.
"""

from typing import Callable, Optional

from torch import nn

from posedy.layers import DynamicConv2d, create_conv2d


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` (MobileNet's rounding).

    Rounds to the nearest multiple, but never goes below 90% of ``value`` (rounding down by
    more than 10% would change the network's capacity noticeably).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvNormAct(nn.Sequential):
    """conv -> norm -> activation, the unit all backbones are made of.

    Args:
        in_channels, out_channels, kernel_size, stride, groups: as ``nn.Conv2d`` ("same" padding).
        dynamic: ask ``conv_layer`` for a dynamic convolution.
        conv_layer: factory with ``create_conv2d``'s signature.
        norm_layer: ``norm_layer(channels)``.
        activation_layer: ``activation_layer()`` or None for a linear unit (MobileNetV2's
            projection).
    Shapes: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, *, dynamic: bool = False, conv_layer: Callable = create_conv2d,
                 norm_layer: Callable = nn.BatchNorm2d,
                 activation_layer: Optional[Callable] = nn.ReLU):
        layers = [conv_layer(in_channels, out_channels, kernel_size, stride, groups=groups,
                             bias=False, dynamic=dynamic),
                  norm_layer(out_channels)]
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels


def init_mobilenet_weights(module: nn.Module) -> None:
    """MobileNet's initialisation (kaiming normal, fan out, zero bias) for static convolutions
    and for each of a dynamic convolution's K kernels on its own, so a dynamic network starts
    at the same scale as its static twin; norms get ones and zeros."""
    for m in module.modules():
        if isinstance(m, DynamicConv2d):
            for k in range(m.num_kernels):
                nn.init.kaiming_normal_(m.weight.data[k], mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
