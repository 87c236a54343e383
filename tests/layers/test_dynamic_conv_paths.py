"""Every implementation path of DynamicConv2d against the naive per-sample reference."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from posedy.layers import DynamicConv2d

from test_dynamic_conv import naive_dynamic_conv  # same directory (pytest puts it on sys.path)

CASES = [
    # (cin, cout, k, stride, padding, dilation, groups, bias)
    (8, 16, 1, 1, 0, 1, 1, False),
    (8, 16, 1, 2, 0, 1, 1, True),      # strided 1x1: bmm subsamples first
    (8, 16, 3, 1, 1, 1, 1, True),
    (8, 8, 3, 2, 1, 1, 8, False),      # depthwise, stride 2
    (12, 6, 3, 1, 2, 2, 3, True),      # grouped, dilated
    (16, 16, 5, 1, 2, 1, 16, False),   # 5x5 depthwise
]


def _implementations(case):
    cin, cout, k, s, p, d, g, b = case
    pointwise = k == 1 and g == 1 and p == 0
    return ["auto", "grouped", "branches"] + (["bmm"] if pointwise else [])


@pytest.mark.parametrize("case,batch,impl", [(c, n, i) for c, n in itertools.product(CASES, [1, 3])
                                             for i in _implementations(c)])
def test_implementation_matches_reference(case, batch, impl):
    torch.manual_seed(0)
    cin, cout, k, s, p, d, g, b = case
    layer = DynamicConv2d(cin, cout, k, s, p, d, g, b, num_kernels=4, temperature=1.0)
    layer.set_implementation(impl)
    x = (torch.randn(batch, cin, 9, 7) + torch.randn(batch, cin, 1, 1)).requires_grad_()
    y = layer(x)
    y_ref = naive_dynamic_conv(layer, x)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    g_out = torch.randn_like(y)
    params = [x] + list(layer.parameters())
    for a, r in zip(torch.autograd.grad(y, params, g_out), torch.autograd.grad(y_ref, params, g_out)):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)


def test_bmm_refused_for_spatial_kernels():
    layer = DynamicConv2d(4, 4, 3, padding=1)
    with pytest.raises(ValueError, match="1x1"):
        layer.set_implementation("bmm")
    with pytest.raises(ValueError, match="implementation must be one of"):
        layer.set_implementation("fast")


def test_recorded_attention_is_the_one_used():
    torch.manual_seed(0)
    layer = DynamicConv2d(6, 6, 3, padding=1, num_kernels=3, temperature=1.0)
    layer.record_attention = True
    x = torch.randn(2, 6, 5, 5)
    y = layer(x)
    pi = layer.last_attention
    torch.testing.assert_close(pi.sum(1), torch.ones(2))
    torch.testing.assert_close(y, layer.apply_attention(x, pi), atol=1e-6, rtol=1e-6)
    w, b = layer.aggregate(pi)
    torch.testing.assert_close(y[1:], F.conv2d(x[1:], w[1], b[1], padding=1), atol=1e-5, rtol=1e-5)
