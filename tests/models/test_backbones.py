"""Backbone structure: torchvision equivalence of the static networks, where dynamic
convolutions go, width/depth multipliers, output stride and channels."""

import pytest
import torch
import torchvision
from torch import nn

from posedy.layers import DynamicConv2d
from posedy.models import BACKBONES
from posedy.models.backbones.mobilenet_v2 import STAGES, MobileNetV2, scale_depth
from posedy.models.backbones.mobilenet_v3 import MobileNetV3
from posedy.models.blocks import make_divisible


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def dynamic_convs(module):
    return [m for m in module.modules() if isinstance(m, DynamicConv2d)]


def static_convs(module):
    return [m for m in module.modules() if type(m) is nn.Conv2d]


@pytest.mark.parametrize("width", [1.0, 0.75, 0.5, 0.35])
def test_static_mobilenet_v2_has_torchvision_parameter_count(width):
    ours = BACKBONES.get("mobilenet_v2")(width_mult=width)
    theirs = torchvision.models.mobilenet_v2(width_mult=width).features
    assert n_params(ours) == n_params(theirs)
    assert ours.out_channels == 1280


def test_static_resnet18_has_torchvision_parameter_count():
    theirs = torchvision.models.resnet18()
    assert n_params(BACKBONES.get("resnet18")()) == n_params(theirs) - n_params(theirs.fc)


def test_static_mobilenet_v3_small_without_last_se_has_torchvision_parameter_count():
    # torchvision leaves out the SE after the last 1x1 conv that MobileNetV3's Table 2 marks.
    assert n_params(MobileNetV3(last_se=False)) == n_params(torchvision.models.mobilenet_v3_small().features)


def test_make_divisible_matches_mobilenet_rounding():
    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == [16, 8, 8, 16, 24, 32, 56, 112]
    assert make_divisible(1280 * 1.4) == 1792
    assert make_divisible(3) == 8          # never below the divisor
    assert make_divisible(0.75 * 20) == 16  # nearest multiple, here rounding up


@pytest.mark.parametrize("name,expected_dynamic,expected_static", [
    # MobileNetV2: 17 blocks, the first without expansion -> 16*3 + 2 = 50 dynamic; static: stem + 1x1->1280.
    ("mobilenet_v2", 50, 2),
    # MobileNetV3-Small: 11 bnecks, the first without expansion -> 32 + last 1x1 = 33; static: stem + SE convs.
    ("mobilenet_v3_small", 33, 1 + 2 * 10),
    # ResNet-18: 8 blocks x 2 = 16; static: the 7x7 stem and the 3 projection shortcuts.
    ("resnet18", 16, 1 + 3),
    ("resnet10", 8, 1 + 3),
])
def test_every_conv_but_the_stem_is_dynamic(name, expected_dynamic, expected_static):
    backbone = BACKBONES.get(name)(dynamic=True)
    assert len(dynamic_convs(backbone)) == expected_dynamic
    assert len(static_convs(backbone)) == expected_static
    stem = next(m for m in backbone.modules() if isinstance(m, (nn.Conv2d, DynamicConv2d)))
    assert type(stem) is nn.Conv2d and stem.in_channels == 3


def test_mobilenet_v2_final_1x1_stays_static():
    backbone = BACKBONES.get("mobilenet_v2")(dynamic=True)
    last = backbone.features[-1][0]
    assert type(last) is nn.Conv2d and last.out_channels == 1280


@pytest.mark.parametrize("positions", [("expand",), ("depthwise",), ("project",), ("expand", "project"), ()])
def test_mobilenet_v2_dynamic_positions_table5(positions):
    backbone = BACKBONES.get("mobilenet_v2")(width_mult=0.5, dynamic=True, dynamic_positions=positions)
    expected = 0
    for block in backbone.features[1:-1]:
        convs = [layer[0] for layer in block.conv]
        names = ["depthwise", "project"] if len(convs) == 2 else ["expand", "depthwise", "project"]
        for conv, pos in zip(convs, names):
            assert isinstance(conv, DynamicConv2d) == (pos in positions), (pos, conv)
            expected += pos in positions
    assert len(dynamic_convs(backbone)) == expected


@pytest.mark.parametrize("depth,blocks", [(1.0, [1, 2, 3, 4, 3, 3, 1]), (0.7, [1, 1, 2, 3, 2, 2, 1]),
                                          (0.5, [1, 1, 2, 2, 2, 2, 1])])
def test_mobilenet_v2_depth_multiplier_scales_blocks_per_stage(depth, blocks):
    assert [scale_depth(s.num_blocks, depth) for s in STAGES] == blocks
    backbone = MobileNetV2(depth_mult=depth)
    assert len(backbone.features) == 2 + sum(blocks)
    with torch.no_grad():
        assert backbone.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1280, 2, 2)


def test_mobilenet_v3_small_without_se_drops_every_se():
    with_se = BACKBONES.get("mobilenet_v3_small")(se=True)
    without = BACKBONES.get("mobilenet_v3_small")(se=False)
    n_se = sum(type(m).__name__ == "SqueezeExcitation" for m in with_se.modules())
    assert n_se == 10   # 9 SE bnecks of Table 2 + the last 1x1 conv
    assert not any(type(m).__name__ == "SqueezeExcitation" for m in without.modules())
    assert any(isinstance(m, nn.Hardswish) for m in without.modules())


@pytest.mark.parametrize("name,channels", [("mobilenet_v2", 1280), ("mobilenet_v3_small", 576), ("resnet18", 512),
                                           ("resnet10", 512)])
def test_output_stride_32_and_out_channels(name, channels):
    torch.manual_seed(0)
    backbone = BACKBONES.get(name)(dynamic=True).eval()
    with torch.no_grad():
        out = backbone(torch.randn(2, 3, 96, 64))
    assert backbone.out_channels == channels
    assert out.shape == (2, channels, 3, 2)


def test_unsupported_option_is_an_error():
    from posedy.models.classifier import build_classifier
    with pytest.raises(ValueError, match="resnet18 does not take width_mult"):
        build_classifier("resnet18", width_mult=0.5)
    with pytest.raises(ValueError, match="does not take se"):
        build_classifier("mobilenet_v2", se=False)


@pytest.mark.parametrize("name", ["resnet18", "resnet10"])
def test_dy_resnet_kernels_start_like_their_static_twins(name):
    torch.manual_seed(0)
    backbone = BACKBONES.get(name)(dynamic=True)
    for m in backbone.modules():
        if isinstance(m, DynamicConv2d):
            fan_out = m.out_channels * m.weight.shape[-1] * m.weight.shape[-2]
            he_std = (2.0 / fan_out) ** 0.5
            for k in range(m.num_kernels):  # each kernel He fan-out on its own
                assert abs(m.weight[k].std().item() / he_std - 1) < 0.1
        if isinstance(m, nn.BatchNorm2d):  # no zero-initialised last BN in residual branches
            assert torch.equal(m.weight, torch.ones_like(m.weight))
    shortcuts = [b.shortcut[0] for b in backbone.blocks if not isinstance(b.shortcut, nn.Identity)]
    assert len(shortcuts) == 3 and all(type(c) is nn.Conv2d for c in shortcuts)
