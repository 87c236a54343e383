"""Head structure against Table 9 and SimpleBaseline."""

import pytest
import torch
from torch import nn

from posedy.layers import DynamicConv2d
from posedy.models import HEADS
from posedy.models.backbones.mobilenet_v2 import InvertedResidual


def test_deconv_head_is_simplebaseline():
    head = HEADS.get("deconv")(512, 17)
    deconvs = [m for m in head.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels, d.kernel_size, d.stride, d.padding) for d in deconvs] == [
        (512, 256, (4, 4), (2, 2), (1, 1)), (256, 256, (4, 4), (2, 2), (1, 1)), (256, 256, (4, 4), (2, 2), (1, 1))]
    assert (head.final.in_channels, head.final.out_channels, head.final.kernel_size) == (256, 17, (1, 1))
    with torch.no_grad():
        assert head.eval()(torch.zeros(1, 512, 8, 6)).shape == (1, 17, 64, 48)


def test_deconv_head_is_static_only():
    with pytest.raises(ValueError, match="static only"):
        HEADS.get("deconv")(512, 17, dynamic=True)


def test_upsample_bneck_head_follows_table9_literally_with_first_expand():
    head = HEADS.get("upsample_bneck")(1280, 17, first_expand=True)
    blocks = [m for m in head.modules() if isinstance(m, InvertedResidual)]
    rows = []
    for block in blocks:
        expand, dw, project = (layer[0] for layer in block.conv)
        assert dw.kernel_size == (5, 5) and dw.groups == dw.in_channels
        rows.append((expand.in_channels, expand.out_channels, project.out_channels, block.use_shortcut))
    assert rows == [(1280, 768, 256, False), (256, 768, 256, True), (256, 768, 128, False), (128, 384, 128, True)]
    ups = [m for m in head.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 3 and all(u.mode == "bilinear" and u.scale_factor == 2 for u in ups)
    with torch.no_grad():
        assert head.eval()(torch.zeros(1, 1280, 8, 6)).shape == (1, 17, 64, 48)


def test_default_upsample_bneck_head_has_no_first_expansion():
    # The reading that reproduces Table 10: the first bottleneck runs its 5x5 depthwise conv on
    # the backbone's output, then projects to 256.
    head = HEADS.get("upsample_bneck")(1280, 17)
    first = [m for m in head.modules() if isinstance(m, InvertedResidual)][0]
    dw, project = (layer[0] for layer in first.conv)
    assert (dw.in_channels, dw.groups, dw.kernel_size, project.out_channels) == (1280, 1280, (5, 5), 256)


@pytest.mark.parametrize("in_channels,dynamic,paper", [
    (1280, False, 1.2e6), (1280, True, 6.3e6), (576, False, 1.0e6), (576, True, 4.9e6)])
def test_upsample_bneck_head_parameters_match_table10(in_channels, dynamic, paper):
    head = HEADS.get("upsample_bneck")(in_channels, 17, dynamic=dynamic, num_kernels=4)
    params = sum(p.numel() for p in head.parameters())
    assert abs(params / paper - 1) < 0.03


def test_dynamic_upsample_bneck_head_makes_every_conv_dynamic():
    head = HEADS.get("upsample_bneck")(96, 17, dynamic=True, num_kernels=4)
    assert not [m for m in head.modules() if type(m) is nn.Conv2d]
    dynamic = [m for m in head.modules() if isinstance(m, DynamicConv2d)]
    assert len(dynamic) == 4 * 3 - 1 + 1 and isinstance(head.final, DynamicConv2d)
