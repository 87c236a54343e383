import pytest
import torch

from posedy.config import ConfigError, config_from_dict
from posedy.models import build_pose_model
from posedy.models.heads.upsample_bneck import upsample_bneck


def test_type_b_width_multiplier_scales_table9_channels():
    head = upsample_bneck(64, 17, width_mult=0.25)
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)]
    # 768 -> 192 and 256 -> 64, 128 -> 32, 384 -> 96 (multiples of 8).
    assert [c.out_channels for c in convs[:-1]] == [64, 192, 64, 192, 32, 96, 32]  # no first expansion
    assert convs[-1].out_channels == 17


def test_head_width_multiplier_only_for_type_b():
    base = {"model": {"backbone": {"name": "resnet10"}, "head": {"name": "deconv", "width_mult": 0.5}}}
    with pytest.raises(ConfigError, match="model.head.width_mult"):
        config_from_dict(base)
    base["model"]["head"] = {"name": "upsample_bneck", "width_mult": 0.0}
    with pytest.raises(ConfigError, match="model.head.width_mult"):
        config_from_dict(base)


def test_narrow_type_b_pose_model_output_shape():
    cfg = config_from_dict({"model": {"backbone": {"name": "mobilenet_v2", "width_mult": 0.5},
                                      "head": {"name": "upsample_bneck", "width_mult": 0.25, "dynamic": True}},
                            "data": {"image_size": [64, 128], "heatmap_size": [16, 32]}})
    model = build_pose_model(cfg.model).eval()
    assert model(torch.randn(2, 3, 128, 64)).shape == (2, 17, 32, 16)
