"""Type-B pose head: bilinear upsampling and MobileNetV2 bottlenecks with 5x5 depthwise
convolutions (DY paper Table 9), static or dynamic.

Each of the three stages doubles the resolution with bilinear upsampling and then runs ``n``
bottlenecks; a 1x1 convolution predicts one heatmap per joint. In the dynamic head every
convolution is dynamic, the final 1x1 included ("dynamic convolution in both the backbone and
the head", Table 10).

The first bottleneck of the first stage has no 1x1 expansion by default: its 5x5 depthwise
convolution runs on the backbone's output and the 1x1 projection maps it to 256 channels. This
is the reading that reproduces Table 10's head parameters for both backbones (MobileNetV2 x0.5
1.21M / 6.33M static / dynamic against 1.2M / 6.3M, MobileNetV3-Small 1.01M / 4.88M against
1.0M / 4.9M); Table 9 read literally (an expansion from the backbone's output to 768 channels,
``first_expand=True``) gives 2.05M / 9.57M and 1.51M / 7.08M. docs/complexity.md has the counts.
"""

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Sequence

from torch import nn

from posedy.architectures import DYNAMIC_POSITIONS
from posedy.layers import create_conv2d

from ..backbones.mobilenet_v2 import InvertedResidual
from ..blocks import init_mobilenet_weights, make_divisible
from ..registry import HEADS


@dataclass(frozen=True)
class HeadStage:
    """One stage of Table 9: x2 bilinear upsampling, then ``num_blocks`` 5x5 bottlenecks."""
    expanded_channels: int
    out_channels: int
    num_blocks: int
    kernel_size: int = 5


# DY paper Table 9 (exp size, #out, n) per row; input 16x12, 32x24, 64x48 for 256x192 crops.
HEAD_STAGES = (
    HeadStage(expanded_channels=768, out_channels=256, num_blocks=2),
    HeadStage(expanded_channels=768, out_channels=128, num_blocks=1),
    HeadStage(expanded_channels=384, out_channels=128, num_blocks=1),
)


class UpsampleBneckHead(nn.Module):
    """Light-weight Type-B head.

    Args:
        in_channels: channels of the backbone output.
        num_joints: heatmaps to predict.
        stages: the stage table (default ``HEAD_STAGES``).
        dynamic: every convolution of the head is dynamic.
        first_expand: whether the first bottleneck expands the backbone's output with a 1x1
            convolution (Table 9 read literally); False (the default) reproduces Table 10.
        conv_layer, norm_layer: injected layer factories.
    Shapes: (N, in_channels, H, W) -> (N, num_joints, 8 H, 8 W) for three stages.
    """

    def __init__(self, in_channels: int, num_joints: int = 17, stages: Sequence[HeadStage] = HEAD_STAGES, *,
                 dynamic: bool = False, first_expand: bool = False, conv_layer: Callable = create_conv2d,
                 norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        self.in_channels = in_channels
        positions = DYNAMIC_POSITIONS if dynamic else ()
        layers = []
        for s, stage in enumerate(stages):
            layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            for b in range(stage.num_blocks):
                # InvertedResidual skips the expansion when hidden == in channels.
                hidden = in_channels if (s, b) == (0, 0) and not first_expand else stage.expanded_channels
                layers.append(InvertedResidual(in_channels, stage.out_channels, 1, hidden,
                                               kernel_size=stage.kernel_size, dynamic_positions=positions,
                                               conv_layer=conv_layer, norm_layer=norm_layer))
                in_channels = stage.out_channels
        self.stages = nn.Sequential(*layers)
        self.final = conv_layer(in_channels, num_joints, 1, bias=True, dynamic=dynamic)
        self._init_weights()

    def _init_weights(self) -> None:
        init_mobilenet_weights(self)
        # Small heatmap-layer weights, as SimpleBaseline, so the first predictions are flat;
        # for a dynamic final layer every one of its K kernels.
        nn.init.normal_(self.final.weight, std=0.001)

    def forward(self, x):
        return self.final(self.stages(x))


@HEADS.register("upsample_bneck")
def upsample_bneck(in_channels: int, num_joints: int = 17, *, dynamic: bool = False, num_kernels: int = 4,
                   temperature: float = 30.0, attention: str = "softmax",
                   width_mult: float = 1.0, first_expand: bool = False) -> UpsampleBneckHead:
    """Type-B head (Table 9), static or dynamic; ``width_mult`` scales every stage's channels
    (rounded to multiples of 8 as MobileNetV2 does), 1.0 being the paper's head;
    ``first_expand`` selects the literal reading of Table 9 (module docstring)."""
    conv = partial(create_conv2d, num_kernels=num_kernels, temperature=temperature, attention=attention)
    stages = tuple(replace(s, expanded_channels=make_divisible(s.expanded_channels * width_mult),
                           out_channels=make_divisible(s.out_channels * width_mult)) for s in HEAD_STAGES)
    return UpsampleBneckHead(in_channels, num_joints, stages, dynamic=dynamic, first_expand=first_expand,
                             conv_layer=conv)
