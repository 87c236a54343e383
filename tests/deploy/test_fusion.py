"""BatchNorm folding: the fused network equals the unfused one in eval mode."""

import pytest
import torch
from torch import nn

from posedy.config import BackboneConfig, HeadConfig, ModelConfig
from posedy.deploy import fuse_bn, fuse_conv_bn
from posedy.layers import DynamicConv2d
from posedy.models import build_pose_model


def _randomise_bn(model: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial running statistics and affine parameters, as after training."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=generator) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=generator) * 0.2)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("bias,groups,kernel", [(False, 1, 1), (True, 1, 3), (False, 6, 5)])
def test_fused_conv_equals_conv_then_bn(dynamic, bias, groups, kernel):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    make = DynamicConv2d if dynamic else nn.Conv2d
    kwargs = {"temperature": 1.0} if dynamic else {}
    conv = make(6, 12, kernel, 1, kernel // 2, 1, groups, bias, **kwargs)
    bn = nn.BatchNorm2d(12)
    _randomise_bn(bn, g)
    pair = nn.Sequential(conv, bn).eval()
    x = torch.randn(3, 6, 7, 5, generator=g) + torch.randn(3, 6, 1, 1, generator=g)
    fused = fuse_conv_bn(conv, bn).eval()
    assert type(fused) is type(conv) and fused.bias is not None
    with torch.no_grad():
        torch.testing.assert_close(fused(x), pair(x), atol=1e-5, rtol=1e-5)


def test_sigmoid_attention_is_not_fused():
    seq = nn.Sequential(DynamicConv2d(4, 4, 3, padding=1, attention="sigmoid"), nn.BatchNorm2d(4))
    assert fuse_bn(seq) == 0
    assert isinstance(seq[1], nn.BatchNorm2d)


def test_fuse_bn_on_a_dynamic_type_b_pose_model():
    dynamic = True
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    cfg = ModelConfig(BackboneConfig("mobilenet_v2", width_mult=0.5, dynamic=dynamic),
                      HeadConfig("upsample_bneck", dynamic=dynamic), temperature=1.0)
    model = build_pose_model(cfg).eval()
    _randomise_bn(model, g)
    x = torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        expected = model(x)
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert fuse_bn(model) == n_bn
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)


def test_fused_dynamic_conv_keeps_every_setting_of_the_layer():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    conv = DynamicConv2d(64, 8, 3, 1, 1, reduction=8, num_kernels=3, temperature=5.0)
    conv.set_implementation("branches")
    bn = nn.BatchNorm2d(8)
    _randomise_bn(bn, g)
    pair = nn.Sequential(conv, bn).eval()
    fused = fuse_conv_bn(conv, bn).eval()
    # Hidden width 64 / 8 = 8 (16 with the default reduction 4): the fused layer's state loads
    # into a layer built with the same arguments.
    assert fused.attention.fc1.out_features == conv.attention.fc1.out_features == 8
    assert (fused.implementation, float(fused.temperature), fused.num_kernels) == ("branches", 5.0, 3)
    fresh = DynamicConv2d(64, 8, 3, 1, 1, bias=True, reduction=8, num_kernels=3)
    fresh.load_state_dict(fused.state_dict())
    x = torch.randn(2, 64, 6, 5, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), pair(x), atol=1e-5, rtol=1e-5)
