"""MobileNetV3-Small (Howard et al., 2019), static or dynamic (DY-MobileNetV3-Small, Chen et al., 2020),
with or without squeeze-and-excitation (DY paper Table 7).

Dynamic convolution replaces every convolution except the stem, including the final 1x1 conv
to 576 channels. The squeeze-and-excitation layers stay static: they are the channel attention
that Table 7 compares dynamic convolution against, not convolutions of the network.

For pose estimation the backbone ends with the 1x1 conv to 576 channels (stride 32); the
classifier adds pooling, a 576 -> 1024 layer with h-swish and the final linear layer.

The last 1x1 conv is followed by squeeze-and-excitation, as MobileNetV3's Table 2 marks it
(torchvision leaves it out). With it the pose backbone has 1.09M parameters against Table 10's
1.1M (0.93M without). Our MAdds stay about 14% under the DY paper's (54.0M vs 62.7M at 256x192,
56.7M vs 66.0M at 224); MobileNetV3's own paper gives 56M for this network, so the DY paper's
MobileNetV3-Small implementation evidently differs from the published architecture.
"""

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional, Sequence

import torch.nn.functional as F
from torch import nn

from posedy.layers import create_conv2d

from ..blocks import ConvNormAct, init_mobilenet_weights, make_divisible
from ..registry import BACKBONES


@dataclass(frozen=True)
class BneckConfig:
    """One row of MobileNetV3's architecture table (one bottleneck)."""
    kernel_size: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str   # "relu" or "hswish"
    stride: int


# MobileNetV3 paper Table 2 (MobileNetV3-Small): exp size, #out, SE, NL, s per bneck row.
SMALL_BNECKS = (
    BneckConfig(3, 16, 16, True, "relu", 2),
    BneckConfig(3, 72, 24, False, "relu", 2),
    BneckConfig(3, 88, 24, False, "relu", 1),
    BneckConfig(5, 96, 40, True, "hswish", 2),
    BneckConfig(5, 240, 40, True, "hswish", 1),
    BneckConfig(5, 240, 40, True, "hswish", 1),
    BneckConfig(5, 120, 48, True, "hswish", 1),
    BneckConfig(5, 144, 48, True, "hswish", 1),
    BneckConfig(5, 288, 96, True, "hswish", 2),
    BneckConfig(5, 576, 96, True, "hswish", 1),
    BneckConfig(5, 576, 96, True, "hswish", 1),
)
# Same table: stem conv2d 3x3, 16, h-swish, stride 2; last conv2d 1x1, 576, SE, h-swish.
SMALL_STEM_CHANNELS = 16
SMALL_LAST_CHANNELS = 576
SMALL_LAST_SE = True
# Classifier: pool, 1x1 conv (no BN) to 1024 with h-swish, 1x1 conv to k; linear layers here.
SMALL_CLASSIFIER_HIDDEN = 1024

_ACTIVATIONS = {"relu": partial(nn.ReLU, inplace=True), "hswish": partial(nn.Hardswish, inplace=True)}


class SqueezeExcitation(nn.Module):
    """Channel attention: global pool -> 1x1 conv -> ReLU -> 1x1 conv -> hard-sigmoid -> scale.

    The squeeze width is a quarter of the channels rounded to a multiple of 8 (MobileNetV3).
    Shapes: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels: int, squeeze_channels: Optional[int] = None):
        super().__init__()
        squeeze_channels = squeeze_channels or make_divisible(channels // 4, 8)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)

    def forward(self, x):
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(scale))))
        return x * scale


class Bneck(nn.Module):
    """MobileNetV3 bottleneck: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 linear project,
    with an identity shortcut when the shape is kept. Every convolution is dynamic when
    ``dynamic``; SE (when ``se_layer`` is given and the row asks for it) is static.

    Shapes: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, cfg: BneckConfig, *, dynamic: bool = False,
                 se_layer: Optional[Callable] = SqueezeExcitation, conv_layer: Callable = create_conv2d,
                 norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        act = _ACTIVATIONS[cfg.activation]
        common = dict(dynamic=dynamic, conv_layer=conv_layer, norm_layer=norm_layer)
        self.use_shortcut = cfg.stride == 1 and in_channels == cfg.out_channels
        layers = []
        if cfg.expanded_channels != in_channels:
            layers.append(ConvNormAct(in_channels, cfg.expanded_channels, 1, activation_layer=act, **common))
        layers.append(ConvNormAct(cfg.expanded_channels, cfg.expanded_channels, cfg.kernel_size, cfg.stride,
                                  groups=cfg.expanded_channels, activation_layer=act, **common))
        if cfg.use_se and se_layer is not None:
            layers.append(se_layer(cfg.expanded_channels))
        layers.append(ConvNormAct(cfg.expanded_channels, cfg.out_channels, 1, activation_layer=None, **common))
        self.block = nn.Sequential(*layers)
        self.out_channels = cfg.out_channels

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_shortcut else out


class MobileNetV3(nn.Module):
    """MobileNetV3 feature extractor ending at stride 32 with the last 1x1 conv.

    Args:
        bnecks: the bottleneck table (``SMALL_BNECKS``).
        stem_channels, last_channels: widths of the stem and of the last 1x1 conv.
        last_se: squeeze-and-excitation after the last 1x1 conv (as the table marks it).
        dynamic: every convolution but the stem is dynamic.
        se: keep the squeeze-and-excitation layers (Table 7 "w/o SE" drops them all).
        conv_layer, norm_layer: injected layer factories.
    Attributes:
        out_channels: ``last_channels``.
    Shapes: (N, 3, H, W) -> (N, out_channels, H / 32, W / 32).
    """

    def __init__(self, bnecks: Sequence[BneckConfig] = SMALL_BNECKS, stem_channels: int = SMALL_STEM_CHANNELS,
                 last_channels: int = SMALL_LAST_CHANNELS, last_se: bool = SMALL_LAST_SE, *,
                 dynamic: bool = False, se: bool = True, conv_layer: Callable = create_conv2d,
                 norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        hswish = _ACTIVATIONS["hswish"]
        common = dict(conv_layer=conv_layer, norm_layer=norm_layer)
        se_layer = SqueezeExcitation if se else None
        # The stem stays static in DY-CNNs (Section 5.1).
        layers = [ConvNormAct(3, stem_channels, 3, 2, activation_layer=hswish, **common)]
        in_ch = stem_channels
        for cfg in bnecks:
            layers.append(Bneck(in_ch, cfg, dynamic=dynamic, se_layer=se_layer, **common))
            in_ch = cfg.out_channels
        layers.append(ConvNormAct(in_ch, last_channels, 1, dynamic=dynamic, activation_layer=hswish, **common))
        if last_se and se_layer is not None:
            layers.append(se_layer(last_channels))
        self.features = nn.Sequential(*layers)
        self.out_channels = last_channels
        init_mobilenet_weights(self)

    def forward(self, x):
        return self.features(x)


@BACKBONES.register("mobilenet_v3_small")
def mobilenet_v3_small(*, dynamic: bool = False, num_kernels: int = 4, se: bool = True,
                       temperature: float = 30.0, attention: str = "softmax") -> MobileNetV3:
    """(DY-)MobileNetV3-Small backbone, with or without squeeze-and-excitation."""
    conv = partial(create_conv2d, num_kernels=num_kernels, temperature=temperature, attention=attention)
    return MobileNetV3(dynamic=dynamic, se=se, conv_layer=conv)
