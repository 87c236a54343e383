"""MobileNetV2 (Sandler et al., 2018), static or dynamic (DY-MobileNetV2, Chen et al., 2020).

Read top to bottom: the stage table, the inverted residual block, the network, the builder
that the backbone registry calls.

Dynamic convolution replaces every convolution except the stem (paper Section 5.1). Inside a
bottleneck, ``dynamic_positions`` chooses which of C1 (1x1 expand), C2 (3x3 depthwise) and C3
(1x1 project) are dynamic (Table 5). The final 1x1 convolution to 1280 channels stays static:
Table 8's parameter counts say so. With it static, DY-MobileNetV2 (K = 4) has 11.15M / 7.01M /
3.95M / 2.69M parameters at widths 1.0 / 0.75 / 0.5 / 0.35 against the paper's 11.1M / 7.0M /
4.0M / 2.8M; with it dynamic, x1.0 would have 12.4M (docs/complexity.md).

For pose estimation the backbone ends with that 1x1 convolution (stride 32, 1280 channels);
only the classifier's pooling and linear layer are dropped. This is the reading that
reproduces Table 10: x1.0 gives 2.2M / 292.6M MAdds there, and dropping the 1280 conv as well
would give 1.8M / 273M.
"""

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

from torch import nn

from posedy.architectures import DYNAMIC_POSITIONS
from posedy.layers import create_conv2d

from ..blocks import ConvNormAct, init_mobilenet_weights, make_divisible
from ..registry import BACKBONES


@dataclass(frozen=True)
class BottleneckStage:
    """One row of the stage table: ``num_blocks`` bottlenecks, the first with ``stride``."""
    expand_ratio: int
    out_channels: int
    num_blocks: int
    stride: int


# MobileNetV2 paper Table 2 (t, c, n, s); the stem (conv 3x3, 32, stride 2) and the final
# 1x1 conv to 1280 are STEM_CHANNELS and LAST_CHANNELS.
STAGES = (
    BottleneckStage(expand_ratio=1, out_channels=16, num_blocks=1, stride=1),
    BottleneckStage(expand_ratio=6, out_channels=24, num_blocks=2, stride=2),
    BottleneckStage(expand_ratio=6, out_channels=32, num_blocks=3, stride=2),
    BottleneckStage(expand_ratio=6, out_channels=64, num_blocks=4, stride=2),
    BottleneckStage(expand_ratio=6, out_channels=96, num_blocks=3, stride=1),
    BottleneckStage(expand_ratio=6, out_channels=160, num_blocks=3, stride=2),
    BottleneckStage(expand_ratio=6, out_channels=320, num_blocks=1, stride=1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def scale_depth(num_blocks: int, depth_mult: float) -> int:
    """Blocks per stage under a depth multiplier (Fig. 7 / Appendix A.2): rounded half up,
    at least one, so that every stage and its stride survive."""
    return max(1, int(num_blocks * depth_mult + 0.5))


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expand (C1) -> kxk depthwise (C2) -> 1x1 linear project (C3),
    with an identity shortcut when the shape is kept.

    The expansion is skipped when ``hidden_channels == in_channels`` (the first MobileNetV2
    block, t = 1). The Type-B pose head reuses this block with a 5x5 depthwise kernel.

    Args:
        in_channels, out_channels, stride: of the block.
        hidden_channels: width after expansion (``round(in_channels * t)`` in MobileNetV2,
            Table 9's "exp size" in the head).
        kernel_size: depthwise kernel size.
        dynamic_positions: subset of ``("expand", "depthwise", "project")`` that are dynamic.
        conv_layer, norm_layer, activation_layer: injected layer factories.
    Shapes: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, hidden_channels: int, *,
                 kernel_size: int = 3, dynamic_positions: Sequence[str] = (),
                 conv_layer: Callable = create_conv2d, norm_layer: Callable = nn.BatchNorm2d,
                 activation_layer: Callable = partial(nn.ReLU6, inplace=True)):
        super().__init__()
        unknown = set(dynamic_positions) - set(DYNAMIC_POSITIONS)
        if unknown:
            raise ValueError(f"dynamic_positions: unknown {sorted(unknown)}; valid: {', '.join(DYNAMIC_POSITIONS)}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.use_shortcut = stride == 1 and in_channels == out_channels
        common = dict(conv_layer=conv_layer, norm_layer=norm_layer)
        layers = []
        if hidden_channels != in_channels:
            layers.append(ConvNormAct(in_channels, hidden_channels, 1, dynamic="expand" in dynamic_positions,
                                      activation_layer=activation_layer, **common))
        layers.append(ConvNormAct(hidden_channels, hidden_channels, kernel_size, stride, groups=hidden_channels,
                                  dynamic="depthwise" in dynamic_positions,
                                  activation_layer=activation_layer, **common))
        # Linear bottleneck: no activation after the projection.
        layers.append(ConvNormAct(hidden_channels, out_channels, 1, dynamic="project" in dynamic_positions,
                                  activation_layer=None, **common))
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_shortcut else out


class MobileNetV2(nn.Module):
    """MobileNetV2 feature extractor ending at stride 32 with the 1x1 conv to 1280 channels.

    Args:
        width_mult: channel multiplier; channels are rounded to multiples of 8; the final
            1280 only grows (``1280 * max(1, width_mult)``), as in MobileNetV2.
        depth_mult: blocks-per-stage multiplier (``scale_depth``).
        dynamic_positions: bottleneck convolutions that are dynamic (empty = static network).
        dynamic_last: whether the final 1x1 conv to 1280 is dynamic.
        stages: the stage table (default ``STAGES``).
        conv_layer, norm_layer: injected layer factories.
    Attributes:
        out_channels: channels of the output (1280 for width <= 1).
    Shapes: (N, 3, H, W) -> (N, out_channels, H / 32, W / 32).
    """

    def __init__(self, width_mult: float = 1.0, depth_mult: float = 1.0, *,
                 dynamic_positions: Sequence[str] = (), dynamic_last: bool = False,
                 stages: Sequence[BottleneckStage] = STAGES, conv_layer: Callable = create_conv2d,
                 norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        if width_mult <= 0 or not 0 < depth_mult <= 1:
            raise ValueError(f"need width_mult > 0 and 0 < depth_mult <= 1, got {width_mult}, {depth_mult}")
        act = partial(nn.ReLU6, inplace=True)
        common = dict(conv_layer=conv_layer, norm_layer=norm_layer)
        in_ch = make_divisible(STEM_CHANNELS * width_mult)
        # The stem stays static in DY-CNNs (Section 5.1: "all convolution layers except the first").
        layers = [ConvNormAct(3, in_ch, 3, 2, activation_layer=act, **common)]
        for stage in stages:
            out_ch = make_divisible(stage.out_channels * width_mult)
            for i in range(scale_depth(stage.num_blocks, depth_mult)):
                layers.append(InvertedResidual(in_ch, out_ch, stage.stride if i == 0 else 1,
                                               int(round(in_ch * stage.expand_ratio)),
                                               dynamic_positions=dynamic_positions,
                                               activation_layer=act, **common))
                in_ch = out_ch
        self.out_channels = make_divisible(LAST_CHANNELS * max(1.0, width_mult))
        layers.append(ConvNormAct(in_ch, self.out_channels, 1, dynamic=dynamic_last, activation_layer=act,
                                  **common))
        self.features = nn.Sequential(*layers)
        init_mobilenet_weights(self)

    def forward(self, x):
        return self.features(x)


@BACKBONES.register("mobilenet_v2")
def mobilenet_v2(*, width_mult: float = 1.0, depth_mult: float = 1.0, dynamic: bool = False,
                 num_kernels: int = 4, dynamic_positions: Sequence[str] = DYNAMIC_POSITIONS,
                 temperature: float = 30.0, attention: str = "softmax") -> MobileNetV2:
    """(DY-)MobileNetV2 backbone; ``dynamic_positions`` only matters when ``dynamic``."""
    conv = partial(create_conv2d, num_kernels=num_kernels, temperature=temperature, attention=attention)
    # dynamic_last stays False: the paper's DY-MobileNetV2 keeps the 1x1 conv to 1280 static
    # (module docstring).
    return MobileNetV2(width_mult, depth_mult, dynamic_positions=tuple(dynamic_positions) if dynamic else (),
                       dynamic_last=False, conv_layer=conv)
