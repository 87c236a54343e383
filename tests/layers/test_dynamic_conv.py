import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from posedy.layers import DynamicConv2d, linear_temperature, set_temperature, to_channels_last


def naive_dynamic_conv(layer: DynamicConv2d, x: torch.Tensor) -> torch.Tensor:
    """Reference: the paper's attention written out, each sample's kernel aggregated with a
    Python loop, one convolution per sample."""
    att = layer.attention
    z = att.fc2(F.relu(att.fc1(x.mean(dim=(2, 3)))))
    pi = torch.sigmoid(z) if att.kind == "sigmoid" else torch.softmax(z / layer.temperature, dim=1)
    outs = []
    for i in range(x.shape[0]):
        w = sum(pi[i, k] * layer.weight[k] for k in range(layer.num_kernels))
        b = None if layer.bias is None else sum(pi[i, k] * layer.bias[k] for k in range(layer.num_kernels))
        outs.append(F.conv2d(x[i:i + 1], w, b, layer.stride, layer.padding, layer.dilation, layer.groups))
    return torch.cat(outs)


CASES = [
    # (cin, cout, k, stride, padding, dilation, groups, bias)
    (8, 16, 1, 1, 0, 1, 1, False),
    (8, 16, 3, 1, 1, 1, 1, True),
    (8, 8, 3, 2, 1, 1, 8, False),      # depthwise, stride 2
    (12, 6, 3, 1, 2, 2, 3, True),      # grouped, dilated
    (16, 16, 5, 1, 2, 1, 16, False),   # 5x5 depthwise
]


# (attention, tau): the end of the paper's annealing, its start, and CondConv's sigmoid (no tau).
ATTENTIONS = [("softmax", 1.0), ("softmax", 30.0), ("sigmoid", 30.0)]


@pytest.mark.parametrize("case,batch,attention", list(itertools.product(CASES, [1, 3], ATTENTIONS)))
def test_matches_naive_reference_forward_and_backward(case, batch, attention):
    torch.manual_seed(0)
    cin, cout, k, s, p, d, g, b = case
    kind, tau = attention
    layer = DynamicConv2d(cin, cout, k, s, p, d, g, b, num_kernels=4, temperature=tau, attention=kind)
    x = torch.randn(batch, cin, 9, 7, requires_grad=True)
    y = layer(x)
    y_ref = naive_dynamic_conv(layer, x)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    g_out = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x] + list(layer.parameters()), g_out)
    grads_ref = torch.autograd.grad(y_ref, [x] + list(layer.parameters()), g_out)
    for a, r in zip(grads, grads_ref):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)


def test_k1_equals_conv2d():
    torch.manual_seed(0)
    layer = DynamicConv2d(6, 10, 3, 1, 1, bias=True, num_kernels=1)
    conv = nn.Conv2d(6, 10, 3, 1, 1)
    conv.weight.data.copy_(layer.weight[0])
    conv.bias.data.copy_(layer.bias[0])
    x = torch.randn(4, 6, 8, 8)
    torch.testing.assert_close(layer(x), conv(x), atol=1e-6, rtol=1e-6)


def test_softmax_attention_sums_to_one_and_sigmoid_does_not():
    torch.manual_seed(0)
    x = torch.randn(5, 8, 6, 6)
    soft = DynamicConv2d(8, 8, 3, padding=1, num_kernels=4, temperature=1.0)
    pi = soft.compute_attention(x)
    torch.testing.assert_close(pi.sum(1), torch.ones(5))
    sig = DynamicConv2d(8, 8, 3, padding=1, num_kernels=4, attention="sigmoid")
    assert not torch.allclose(sig.compute_attention(x).sum(1), torch.ones(5))


def test_temperature_is_saved_and_restored():
    model = nn.Sequential(DynamicConv2d(4, 4, 1), nn.ReLU(), DynamicConv2d(4, 4, 3, padding=1))
    assert set_temperature(model, 7.5) == 2
    state = model.state_dict()
    fresh = nn.Sequential(DynamicConv2d(4, 4, 1), nn.ReLU(), DynamicConv2d(4, 4, 3, padding=1))
    assert float(fresh[0].temperature) == 30.0
    fresh.load_state_dict(state)
    assert float(fresh[0].temperature) == 7.5 and float(fresh[2].temperature) == 7.5


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    layer = DynamicConv2d(8, 8, 3, padding=1, bias=True)
    # A per-channel offset so the pooled input, and so the attention, varies per sample.
    x = torch.randn(6, 8, 5, 5) + 2 * torch.randn(6, 8, 1, 1)
    layer(x).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_each_kernel_initialised_with_single_kernel_fan():
    torch.manual_seed(0)
    layer = DynamicConv2d(64, 64, 3, num_kernels=4)
    bound = 1.0 / (64 * 9) ** 0.5
    for k in range(4):
        assert layer.weight[k].abs().max() <= bound
        assert layer.weight[k].abs().max() > 0.9 * bound


def test_channels_last_and_non_contiguous_input():
    torch.manual_seed(0)
    layer = DynamicConv2d(8, 8, 3, padding=1)
    x = torch.randn(3, 8, 10, 10)
    ref = layer(x)
    torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), ref, atol=1e-5, rtol=1e-5)
    xt = torch.randn(3, 8, 10, 10).transpose(2, 3)
    torch.testing.assert_close(layer(xt), layer(xt.contiguous()), atol=1e-5, rtol=1e-5)


def test_a_model_with_dynamic_layers_goes_channels_last():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), DynamicConv2d(8, 8, 3, padding=1, groups=8))
    x = torch.randn(2, 3, 8, 8)
    ref = model(x)
    with pytest.raises(RuntimeError, match="rank 4"):  # why the helper exists
        model.to(memory_format=torch.channels_last)
    assert to_channels_last(model) is model
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model[2].weight.dim() == 5 and model[2].weight.is_contiguous()
    assert isinstance(model[0].weight, nn.Parameter) and model[1].running_mean.dim() == 1
    out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_linear_temperature_schedule():
    assert linear_temperature(0, 100) == 30.0
    assert linear_temperature(50, 100) == pytest.approx(15.5)
    assert linear_temperature(100, 100) == 1.0
    assert linear_temperature(500, 100) == 1.0


def test_inspection_modes():
    torch.manual_seed(0)
    layer = DynamicConv2d(8, 8, 1, num_kernels=4, temperature=1.0)
    x = torch.randn(4, 8, 3, 3)
    pi = layer.compute_attention(x)
    layer.set_mode("average")
    torch.testing.assert_close(layer.compute_attention(x), torch.full((4, 4), 0.25))
    layer.set_mode("max")
    torch.testing.assert_close(layer.compute_attention(x), F.one_hot(pi.argmax(1), 4).float())
    layer.set_mode("shuffle_kernels", torch.Generator().manual_seed(0))
    shuffled = layer.compute_attention(x)
    torch.testing.assert_close(shuffled.sort(1).values, pi.sort(1).values)
    assert not torch.allclose(shuffled, pi)
    layer.set_mode("shuffle_images", torch.Generator().manual_seed(0))
    other = layer.compute_attention(x)
    assert all(any(torch.allclose(other[i], pi[j]) for j in range(4) if j != i) for i in range(4))
