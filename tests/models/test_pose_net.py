"""Every registered backbone x head, static and dynamic: shapes, gradients, BN in train mode."""

import itertools

import pytest
import torch

from posedy.config import BackboneConfig, ConfigError, HeadConfig, ModelConfig
from posedy.layers import DynamicConv2d
from posedy.models import BACKBONES, HEADS, PoseNet, build_pose_model

# Type-A is static only (the paper makes only its backbone dynamic); its "dynamic" case is a
# dynamic backbone with the static head.
CASES = list(itertools.product(BACKBONES.names(), HEADS.names(), [False, True]))


def test_registries_match_config_names():
    from posedy.architectures import BACKBONES as CONFIG_BACKBONES, HEADS as CONFIG_HEADS
    assert BACKBONES.names() == sorted(CONFIG_BACKBONES)
    assert HEADS.names() == sorted(CONFIG_HEADS)


def test_every_builder_takes_the_settings_its_table_row_names():
    import inspect

    from posedy import architectures
    for registry, table in ((BACKBONES, architectures.BACKBONES), (HEADS, architectures.HEADS)):
        for name, arch in table.items():
            accepted = set(inspect.signature(registry.get(name)).parameters)
            assert set(arch.settings) <= accepted, name
            assert not (set(architectures.SETTINGS) - set(arch.settings)) & accepted, name


@pytest.mark.parametrize("backbone,head,dynamic", CASES)
def test_forward_backward_every_parameter_gets_a_gradient(backbone, head, dynamic):
    torch.manual_seed(0)
    head_dynamic = dynamic and head != "deconv"
    cfg = ModelConfig(BackboneConfig(backbone, dynamic=dynamic), HeadConfig(head, dynamic=head_dynamic), num_joints=5)
    model = build_pose_model(cfg)
    assert isinstance(model, PoseNet)
    assert any(isinstance(m, DynamicConv2d) for m in model.backbone.modules()) == dynamic
    assert any(isinstance(m, DynamicConv2d) for m in model.head.modules()) == head_dynamic
    # Random BN scales: ResNet zero-initialises the last BN of each residual branch, which would
    # (correctly) cut the gradient to the branch; this test is about the graph, not the init.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    model.train()
    # Batch 2 at 64x32: the stride-32 map is 2x1, so train-mode BN sees more than one value.
    x = torch.randn(2, 3, 64, 32)
    out = model(x)
    assert out.shape == (2, 5, 16, 8)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing[:5]}"
    # The attention branch must be reachable too: a dynamic layer whose attention gets no signal is static.
    zero = [name for name, p in model.named_parameters() if "attention.fc" in name and p.grad.abs().sum() == 0]
    assert not zero, f"zero gradient for {zero[:5]}"


def test_heatmaps_are_quarter_resolution_for_256x192():
    torch.manual_seed(0)
    model = build_pose_model(ModelConfig(BackboneConfig("mobilenet_v2", width_mult=0.35), HeadConfig("upsample_bneck")))
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 256, 192)).shape == (1, 17, 64, 48)


def test_settings_reach_the_layers():
    cfg = ModelConfig(BackboneConfig("mobilenet_v3_small", dynamic=True, num_kernels=3),
                      HeadConfig("upsample_bneck", dynamic=True, num_kernels=2), temperature=7.0, attention="sigmoid")
    model = build_pose_model(cfg)
    bb = [m for m in model.backbone.modules() if isinstance(m, DynamicConv2d)]
    hd = [m for m in model.head.modules() if isinstance(m, DynamicConv2d)]
    assert {m.num_kernels for m in bb} == {3} and {m.num_kernels for m in hd} == {2}
    assert {float(m.temperature) for m in bb + hd} == {7.0}
    assert {m.attention.kind for m in bb + hd} == {"sigmoid"}


def test_dynamic_deconv_head_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model\.head.*static only"):
        build_pose_model(ModelConfig(BackboneConfig("resnet18"), HeadConfig("deconv", dynamic=True)))


@pytest.mark.parametrize("backbone,head,message", [
    ({"name": "resnet18", "se": False}, {"name": "deconv"}, r"^model\.backbone\.se: only mobilenet_v3_small"),
    ({"name": "mobilenet_v3_small", "depth_mult": 0.5}, {"name": "deconv"}, r"^model\.backbone\.depth_mult: only"),
    ({"name": "resnet10", "dynamic_positions": ["project"]}, {"name": "deconv"},
     r"^model\.backbone\.dynamic_positions: only mobilenet_v2"),
    ({"name": "mobilenet_v2"}, {"name": "deconv", "dynamic": True}, r"^model\.head\.dynamic: .*static only"),
])
def test_model_settings_that_do_not_apply_fail_at_load(backbone, head, message):
    from posedy.config import config_from_dict
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"model": {"backbone": backbone, "head": head}})


def test_kernel_init_copies_starts_the_dynamic_network_as_its_static_twin():
    """``model.kernel_init: copies``: every dynamic layer's K kernels equal its first, which is
    what the independent initialisation drew for it (the rest of the model is unchanged), so with
    any attention the network computes what the static network with those kernels computes."""
    def build(kernel_init, dynamic=True):
        torch.manual_seed(0)
        cfg = ModelConfig(BackboneConfig("mobilenet_v2", width_mult=0.5, dynamic=dynamic),
                          HeadConfig("upsample_bneck", dynamic=dynamic, width_mult=0.25), num_joints=3,
                          kernel_init=kernel_init)
        return build_pose_model(cfg).eval()

    independent, copies = build("independent"), build("copies")
    layers = [m for m in copies.modules() if isinstance(m, DynamicConv2d)]
    assert layers
    for m in layers:
        assert torch.equal(m.weight, m.weight[:1].expand_as(m.weight))
        if m.bias is not None:
            assert torch.equal(m.bias, m.bias[:1].expand_as(m.bias))
    drawn = dict(independent.named_parameters())
    for name, p in copies.named_parameters():
        # Kernel banks are (K, C_out, C_in / groups, kh, kw): only their first kernel is as drawn.
        if p.dim() == 5:
            assert torch.equal(p[0], drawn[name][0]), name
        else:
            assert torch.equal(p, drawn[name]), name
    x = torch.randn(2, 3, 64, 48)
    ref = copies(x)
    for m in layers:
        m.set_mode("shuffle_kernels", torch.Generator().manual_seed(1))
    assert torch.allclose(copies(x), ref, atol=1e-5)
    # A static model has no kernels to copy: the option changes nothing.
    assert all(torch.equal(a, b) for a, b in zip(build("independent", False).state_dict().values(),
                                                 build("copies", False).state_dict().values()))


def test_kernel_init_must_be_a_known_name():
    with pytest.raises(ConfigError, match="kernel_init.*independent, copies"):
        ModelConfig(BackboneConfig("mobilenet_v2"), HeadConfig("upsample_bneck"), kernel_init="same").validate("model")
