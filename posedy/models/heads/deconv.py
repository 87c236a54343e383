"""Type-A pose head: SimpleBaseline's deconvolution head (Xiao et al., 2018; DY paper Section 6).

Three stages of [4x4 transposed convolution, stride 2, 256 channels, BN, ReLU] raise the
stride-32 backbone output to stride 4, and a 1x1 convolution predicts one heatmap per joint.
The head is static: the paper compares dynamic and static convolution "in the backbone alone"
for Type-A (Table 10, top half), and the layers package has no dynamic transposed convolution.
"""

from dataclasses import dataclass
from typing import Callable, Sequence

from torch import nn

from posedy import architectures

from ..registry import HEADS


@dataclass(frozen=True)
class DeconvStage:
    """One upsampling stage: transposed conv ``kernel_size`` with stride 2 to ``channels``."""
    channels: int
    kernel_size: int = 4


# SimpleBaseline: three deconvolution layers, 256 filters, 4x4 kernels, stride 2.
DECONV_STAGES = (DeconvStage(256), DeconvStage(256), DeconvStage(256))


class DeconvHead(nn.Module):
    """SimpleBaseline deconvolution head.

    Args:
        in_channels: channels of the backbone output.
        num_joints: heatmaps to predict (17 for COCO).
        stages: the upsampling table (default ``DECONV_STAGES``).
        norm_layer: injected normalisation.
    Shapes: (N, in_channels, H, W) -> (N, num_joints, 8 H, 8 W) for three stages.
    """

    def __init__(self, in_channels: int, num_joints: int = 17, stages: Sequence[DeconvStage] = DECONV_STAGES, *,
                 norm_layer: Callable = nn.BatchNorm2d):
        super().__init__()
        self.in_channels = in_channels
        layers = []
        for stage in stages:
            # kernel 4, padding 1 (no output padding) is an exact x2: (H - 1) * 2 - 2 + 4 = 2H.
            padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[stage.kernel_size]
            layers += [nn.ConvTranspose2d(in_channels, stage.channels, stage.kernel_size, stride=2, padding=padding,
                                          output_padding=output_padding, bias=False),
                       norm_layer(stage.channels), nn.ReLU(inplace=True)]
            in_channels = stage.channels
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(in_channels, num_joints, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # SimpleBaseline's initialisation: small Gaussian weights so the first heatmaps are flat.
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.final(self.deconv(x))


@HEADS.register("deconv")
def deconv(in_channels: int, num_joints: int = 17, *, dynamic: bool = False, num_kernels: int = 4,
           temperature: float = 30.0, attention: str = "softmax") -> DeconvHead:
    """Type-A head; static only (``dynamic=True`` is an error)."""
    if dynamic:
        raise ValueError(architectures.HEADS["deconv"].static_reason)
    return DeconvHead(in_channels, num_joints)
