"""onnxruntime NCHWc graphs with per-image kernels: equal to PyTorch, every dynamic layer fed."""

import pytest
import torch
from torch import nn

from posedy.config import BackboneConfig, HeadConfig, ModelConfig
from posedy.deploy.ort_nchwc import NCHWC_DOMAIN, NchwcSession, build_nchwc_graph, coded_twin, nchwc_block_size
from posedy.layers import DynamicConv2d, dynamic_layers
from posedy.models import build_pose_model

pytest.importorskip("onnxruntime")


def _calibrate(model: nn.Module, size_hw, seed: int = 0) -> nn.Module:
    """BatchNorm statistics of one random batch, so activations are O(1) in eval mode (a fresh
    model's identity statistics shrink them to ~1e-18, where any error would pass a tolerance)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, *size_hw, generator=gen))
    return model.eval()


def _pose_model(dynamic: bool, attention: str = "softmax", width: float = 0.35) -> nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(BackboneConfig("mobilenet_v2", width_mult=width, dynamic=dynamic),
                      HeadConfig("upsample_bneck", dynamic=dynamic, width_mult=0.25), attention=attention)
    model = build_pose_model(cfg)
    nn.init.normal_(model.head.final.weight, std=0.05)
    for layer in dynamic_layers(model):
        layer.set_temperature(2.0)  # sharper than tau=30, so a wrong kernel order would show
    return _calibrate(model, (128, 96))


def _max_relative_error(model, session, x):
    with torch.no_grad():
        expected = model(x)
    got = session(x)
    assert got.shape == expected.shape
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("attention", ["softmax", "sigmoid"])
def test_dynamic_pose_model_matches_pytorch(attention):
    model = _pose_model(True, attention)
    session = NchwcSession(model, (96, 128))
    x = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(1))
    assert _max_relative_error(model, session, x) < 1e-4
    # Every dynamic layer's aggregated kernel feeds one of onnxruntime's (NCHWc, where it has
    # them) convolutions.
    domain = NCHWC_DOMAIN if nchwc_block_size() else None
    fed = {node.input[1] for node in session.graph.graph.node
           if node.op_type in ("Conv", "FusedConv") and (domain is None or node.domain == domain)}
    assert {f"posedy_dy{i}_weight" for i in range(len(dynamic_layers(model)))} <= fed


def test_static_pose_model_is_onnxruntime_graph():
    model = _pose_model(False)
    session = NchwcSession(model, (96, 128))
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(2))
    assert _max_relative_error(model, session, x) < 1e-4
    if nchwc_block_size():
        assert any(node.domain == NCHWC_DOMAIN for node in session.graph.graph.node)


def test_model_is_not_modified():
    model = _pose_model(True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    build_nchwc_graph(model, (96, 128))
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_coded_twin_codes_are_unique_and_exact():
    net = nn.Sequential(DynamicConv2d(8, 16, 1), nn.ReLU(), DynamicConv2d(16, 16, 3, padding=1, groups=16))
    twin, layers = coded_twin(net)
    assert [type(m) for m in twin] == [nn.Conv2d, nn.ReLU, nn.Conv2d]
    codes = torch.cat([twin[0].weight.flatten(), twin[0].bias, twin[2].weight.flatten(), twin[2].bias])
    assert torch.equal(codes, torch.arange(1, codes.numel() + 1, dtype=torch.float32))
    assert [(offset, size) for _, offset, size in layers] == [(0, 128), (144, 144)]
    assert layers[0][0] is net[0] and layers[1][0] is net[2]


def test_small_mixed_network_with_strides_and_groups():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(),
        DynamicConv2d(16, 32, 1, temperature=1.0), nn.ReLU6(),
        DynamicConv2d(32, 32, 3, 2, 1, groups=32, temperature=1.0), nn.ReLU6(),
        DynamicConv2d(32, 24, 3, 1, 1, groups=2, temperature=1.0),
        DynamicConv2d(24, 5, 1, temperature=1.0),
    ).eval()
    session = NchwcSession(net, (40, 56))
    x = torch.randn(1, 3, 56, 40, generator=torch.Generator().manual_seed(4))
    assert _max_relative_error(net, session, x) < 1e-4


def test_without_the_nchwc_transformer_kernels_feed_plain_convolutions(monkeypatch):
    """Where onnxruntime has no NCHWc transformer (e.g. another CPU family) the graph keeps ONNX
    convolutions and the aggregated kernels are fed to them unpermuted."""
    from posedy.deploy import ort_nchwc

    monkeypatch.setattr(ort_nchwc, "WEIGHT_REWRITING_FUSIONS",
                        ort_nchwc.WEIGHT_REWRITING_FUSIONS + ["NchwcTransformer"])
    monkeypatch.setattr(ort_nchwc, "nchwc_block_size", lambda: None)
    model = _pose_model(True)
    session = NchwcSession(model, (96, 128))
    assert not any(node.domain == NCHWC_DOMAIN for node in session.graph.graph.node)
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(5))
    assert _max_relative_error(model, session, x) < 1e-4
