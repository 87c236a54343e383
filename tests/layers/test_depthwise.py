"""depthwise_conv2d: F.conv2d's values and gradients, with the convolution-form weight gradient."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from posedy.deploy.fusion import can_fuse, fuse_conv_bn
from posedy.layers import DepthwiseConv2d, DynamicConv2d, create_conv2d, depthwise_conv2d
from posedy.layers.depthwise import depthwise_weight_grad, torch_weight_grad, uses_large_kernel_grad

CASES = [
    # (batch, channels, h, w, kernel, stride, padding, dilation)
    (1, 6, 9, 7, 5, 1, 2, 1),
    (3, 4, 11, 8, 5, 2, 2, 1),
    (2, 5, 10, 9, 7, 1, 3, 2),
    (2, 3, 8, 6, (5, 3), 2, (2, 1), 1),   # rectangular kernel and padding
    (2, 4, 9, 9, 5, 3, 1, 1),              # the gradient convolution's output is cropped
    (1, 8, 4, 3, 5, 1, 2, 1),              # output gradient larger than the input plane
]


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_conv2d(case):
    n, c, h, w, k, s, p, d = case
    gen = torch.Generator().manual_seed(0)
    ks = k if isinstance(k, tuple) else (k, k)
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(c, 1, *ks, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(c, generator=gen, dtype=torch.float64, requires_grad=True)
    assert uses_large_kernel_grad(x, weight)
    ref = F.conv2d(x, weight, bias, s, p, d, c)
    out = depthwise_conv2d(x, weight, bias, s, p, d)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad_out = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    for a, r in zip(torch.autograd.grad(out, (x, weight, bias), grad_out),
                    torch.autograd.grad(ref, (x, weight, bias), grad_out)):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-12)


def test_weight_grad_exact_small_case():
    # One channel, 2x2 input, 1x1 output gradient 1 at the only position of a 'valid' 2x2 conv:
    # dW is the input itself.
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    grad_out = torch.ones(1, 1, 1, 1)
    dw = depthwise_weight_grad(x, grad_out, (2, 2), (1, 1), (0, 0), (1, 1))
    assert dw.tolist() == [[[[1.0, 2.0], [3.0, 4.0]]]]
    # Two samples: the gradient sums over the batch.
    dw2 = depthwise_weight_grad(torch.cat([x, 10 * x]), torch.ones(2, 1, 1, 1), (2, 2), (1, 1), (0, 0), (1, 1))
    assert dw2.tolist() == [[[[11.0, 22.0], [33.0, 44.0]]]]


def test_torch_gradient_where_it_is_kept():
    x = torch.randn(2, 4, 6, 6)
    w5 = torch.randn(4, 1, 5, 5, requires_grad=True)
    w3 = torch.randn(4, 1, 3, 3, requires_grad=True)
    assert uses_large_kernel_grad(x, w5)
    assert not uses_large_kernel_grad(x, w3)                      # 3x3: PyTorch's gradient
    assert not uses_large_kernel_grad(x, w5.detach())             # no weight gradient wanted
    assert not uses_large_kernel_grad(x.contiguous(memory_format=torch.channels_last), w5)
    with torch.no_grad():
        assert not uses_large_kernel_grad(x, w5)                  # inference, export
    with torch_weight_grad():
        assert not uses_large_kernel_grad(x, w5)
    assert uses_large_kernel_grad(x, w5)                          # restored on exit


def test_factory_builds_depthwise_layers_with_conv2d_state():
    layer = create_conv2d(8, 8, 5, 2, groups=8)
    assert type(layer) is DepthwiseConv2d
    assert type(create_conv2d(8, 16, 3)) is nn.Conv2d
    assert type(create_conv2d(8, 8, 3, groups=2)) is nn.Conv2d
    plain = nn.Conv2d(8, 8, 5, 2, 2, groups=8, bias=False)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(2, 8, 12, 10)
    torch.testing.assert_close(layer(x), plain(x), rtol=0, atol=0)


def test_depthwise_layer_trains_like_conv2d():
    torch.manual_seed(0)
    layer = DepthwiseConv2d(6, 5, 1, 2, bias=True).double()
    plain = nn.Conv2d(6, 6, 5, 1, 2, groups=6, bias=True).double()
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(3, 6, 8, 7, dtype=torch.float64)
    for module in (layer, plain):
        module(x).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, plain.weight.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(layer.bias.grad, plain.bias.grad, rtol=0, atol=1e-10)


def test_dynamic_depthwise_gradient_equals_torch_gradient():
    torch.manual_seed(0)
    layer = DynamicConv2d(6, 6, 5, 1, 2, groups=6, bias=True, num_kernels=4, temperature=1.0).double()
    x = torch.randn(3, 6, 9, 7, dtype=torch.float64, requires_grad=True)
    params = [x] + list(layer.parameters())
    grad_out = torch.randn(3, 6, 9, 7, dtype=torch.float64)
    ours = torch.autograd.grad(layer(x), params, grad_out)
    with torch_weight_grad():
        theirs = torch.autograd.grad(layer(x), params, grad_out)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_static_depthwise_layer_folds_batch_norm():
    torch.manual_seed(0)
    conv = DepthwiseConv2d(4, 5, 1, 2)
    bn = nn.BatchNorm2d(4).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    assert can_fuse(conv, bn)
    fused = fuse_conv_bn(conv, bn)
    x = torch.randn(2, 4, 7, 6)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
