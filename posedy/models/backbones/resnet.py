"""ResNet-18 and ResNet-10 (He et al., 2016) with basic blocks, static or dynamic (DY-ResNet,
Chen et al., 2020).

Dynamic convolution replaces every 3x3 convolution; the 7x7 stem and the 1x1 projection
shortcuts stay static. That is the reading that fits the paper's parameter counts in units of
2^20 (DY-ResNet-18 42.85M vs 42.7M in Table 8, 42.36M vs 42.2M in Table 10, DY-ResNet-10
18.77M vs 18.6M; with dynamic shortcuts they are about 0.5M larger). For pose estimation the backbone ends after the last stage (stride 32,
512 channels); the classifier adds pooling, dropout and the linear layer.
"""

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

from torch import nn

from posedy.layers import DynamicConv2d, create_conv2d


from ..blocks import ConvNormAct
from ..registry import BACKBONES


@dataclass(frozen=True)
class BasicStage:
    """One ResNet stage: ``num_blocks`` basic blocks of ``channels``, the first with ``stride``."""
    channels: int
    num_blocks: int
    stride: int


# ResNet paper Table 1, "18-layer" column (conv2_x .. conv5_x).
RESNET18_STAGES = (
    BasicStage(channels=64, num_blocks=2, stride=1),
    BasicStage(channels=128, num_blocks=2, stride=2),
    BasicStage(channels=256, num_blocks=2, stride=2),
    BasicStage(channels=512, num_blocks=2, stride=2),
)
# ResNet-10 of the DY paper (Table 8): the same stages with one basic block each.
RESNET10_STAGES = tuple(BasicStage(s.channels, 1, s.stride) for s in RESNET18_STAGES)
STEM_CHANNELS = 64


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity or 1x1 projection shortcut, ReLU after the sum.

    Shapes: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, dynamic: bool = False,
                 conv_layer: Callable = create_conv2d, norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        common = dict(dynamic=dynamic, conv_layer=conv_layer, norm_layer=norm_layer)
        self.conv1 = ConvNormAct(in_channels, out_channels, 3, stride, activation_layer=partial(nn.ReLU, inplace=True),
                                 **common)
        self.conv2 = ConvNormAct(out_channels, out_channels, 3, activation_layer=None, **common)
        # The projection shortcut stays static (module docstring).
        self.shortcut = (ConvNormAct(in_channels, out_channels, 1, stride, activation_layer=None,
                                     conv_layer=conv_layer, norm_layer=norm_layer)
                         if stride != 1 or in_channels != out_channels else nn.Identity())
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out_channels

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    """Basic-block ResNet feature extractor ending at stride 32.

    Args:
        stages: the stage table (``RESNET18_STAGES`` or ``RESNET10_STAGES``).
        dynamic: every convolution but the stem is dynamic.
        conv_layer, norm_layer: injected layer factories.
    Attributes:
        out_channels: channels of the last stage (512).
    Shapes: (N, 3, H, W) -> (N, out_channels, H / 32, W / 32).
    """

    def __init__(self, stages: Sequence[BasicStage] = RESNET18_STAGES, *, dynamic: bool = False,
                 conv_layer: Callable = create_conv2d, norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        # The 7x7 stem stays static in DY-CNNs (Section 5.1).
        self.stem = nn.Sequential(
            ConvNormAct(3, STEM_CHANNELS, 7, 2, conv_layer=conv_layer, norm_layer=norm_layer,
                        activation_layer=partial(nn.ReLU, inplace=True)),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        blocks = []
        in_ch = STEM_CHANNELS
        for stage in stages:
            for i in range(stage.num_blocks):
                blocks.append(BasicBlock(in_ch, stage.channels, stage.stride if i == 0 else 1, dynamic=dynamic,
                                         conv_layer=conv_layer, norm_layer=norm_layer))
                in_ch = stage.channels
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = in_ch
        self._init_weights()

    def _init_weights(self) -> None:
        # He initialisation (fan out) for static convolutions and for each of a dynamic
        # convolution's K kernels on its own, so DY-ResNet starts at its static twin's scale.
        # BatchNorm starts at ones: neither the paper nor SimpleBaseline zero-initialises the
        # last BN of a residual branch.
        for m in self.modules():
            if isinstance(m, DynamicConv2d):
                for k in range(m.num_kernels):
                    nn.init.kaiming_normal_(m.weight.data[k], mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.blocks(self.stem(x))


def _builder(stages):
    def build(*, dynamic: bool = False, num_kernels: int = 4, temperature: float = 30.0,
              attention: str = "softmax") -> ResNet:
        conv = partial(create_conv2d, num_kernels=num_kernels, temperature=temperature, attention=attention)
        return ResNet(stages, dynamic=dynamic, conv_layer=conv)
    return build


resnet18 = BACKBONES.register("resnet18")(_builder(RESNET18_STAGES))
resnet18.__doc__ = "(DY-)ResNet-18 backbone (basic blocks [2, 2, 2, 2])."
resnet10 = BACKBONES.register("resnet10")(_builder(RESNET10_STAGES))
resnet10.__doc__ = "(DY-)ResNet-10 backbone (basic blocks [1, 1, 1, 1])."
