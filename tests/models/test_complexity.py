"""Complexity counting: exact hand-worked values per layer type, then paper spot checks."""

import pytest
import torch
from torch import nn

from posedy.layers import DynamicConv2d
from posedy.models import build_classifier, count_complexity, pose_complexity
from posedy.models.complexity import madds_by_module
from posedy.models.paper_complexity import PAPER_TABLE1, PAPER_TABLE10, build_pose_row


def test_conv_stride_groups():
    # 3->8, 3x3, stride 2 on 10x10 -> 5x5: 25 * 3 * 8 * 9; depthwise 8, 5x5 on 5x5: 25 * 1 * 8 * 25.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 5, 1, 2, groups=8))
    c = count_complexity(net, 10)
    assert c.madds == 25 * 3 * 8 * 9 + 25 * 8 * 25
    assert c.params == 3 * 8 * 9 + 16 + 8 * 25 + 8


def test_transposed_conv_counts_input_pixels_times_weights():
    net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.ConvTranspose2d(4, 6, 4, 2, 1, bias=False))
    # 7x5 input (w, h): the 1x1 conv costs 35*3*4, the deconv 35 input pixels * 4*6*16 weights
    # (its 14x10 output times the weights would be 4x that).
    assert count_complexity(net, (7, 5)).madds == 35 * 3 * 4 + 35 * 4 * 6 * 16


def test_linear_counts_per_row():
    net = nn.Sequential(nn.Conv2d(3, 5, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 7))
    assert count_complexity(net, 4).madds == 16 * 3 * 5 + 5 * 7


def test_dynamic_conv_adds_attention_and_aggregation_once():
    layer = DynamicConv2d(16, 32, 3, stride=2, padding=1, num_kernels=4, bias=True)
    hidden = layer.attention.fc1.out_features
    assert hidden == 4
    h, w = 12, 10
    conv = 6 * 5 * 16 * 32 * 9                      # output 6x5
    attention = h * w * 16 + 16 * hidden + hidden * 4  # pool + fc1 + fc2
    aggregation = 4 * 16 * 32 * 9 + 4 * 32
    assert madds_by_module(layer, (w, h), in_channels=16) == {"": conv + attention + aggregation}
    depthwise = DynamicConv2d(8, 8, 3, padding=1, groups=8, bias=False, num_kernels=2)
    assert count_complexity(depthwise, 4, in_channels=8).madds == 16 * 8 * 9 + (16 * 8 + 8 * 4 + 4 * 2) + 2 * 8 * 9


def test_count_restores_training_mode_and_removes_hooks():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    before = net[1].running_mean.clone()
    count_complexity(net, 8)
    assert net.training and not net[0]._forward_hooks
    assert torch.equal(net[1].running_mean, before)


@pytest.mark.parametrize("width", [0.5, 0.35])
def test_table1_mobilenet_v2_madds_within_3_percent(width):
    for kernels in ("static", 4):
        model = build_classifier("mobilenet_v2", width_mult=width, dynamic=kernels != "static", num_kernels=4)
        paper = PAPER_TABLE1[width][kernels] * 1e6
        assert count_complexity(model, 224).madds == pytest.approx(paper, rel=0.03)


def test_mobilenet_v2_x1_exact_counts():
    # torchvision's MobileNetV2 has 3,504,872 parameters; 300.8M MAdds is its known cost at 224.
    c = count_complexity(build_classifier("mobilenet_v2", dynamic=False), 224)
    assert c.params == 3_504_872
    assert c.madds == 300_774_272


def test_pose_complexity_parts_add_up_and_match_table10_backbone():
    row = next(r for r in PAPER_TABLE10 if r.label == "DY-MobileNetV2 x0.5" and r.type == "B")
    parts = pose_complexity(build_pose_row(row), (192, 256))
    assert parts["total"].params == parts["backbone"].params + parts["head"].params
    assert parts["total"].madds == parts["backbone"].madds + parts["head"].madds
    assert parts["backbone"].params == pytest.approx(row.backbone_params, rel=0.05)
    assert parts["backbone"].madds == pytest.approx(row.backbone_madds, rel=0.05)
