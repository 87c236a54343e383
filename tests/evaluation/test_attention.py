import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from posedy.evaluation.attention import (aggregation_mode, attention_entropy, attention_statistics,
                                         recording_attention, resolution_groups, set_group_pattern,
                                         table4_patterns)
from posedy.layers import DynamicConv2d
from posedy.sample_data import coco_sample_dir
from tool_modules import load_tool

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = coco_sample_dir()


def test_attention_entropy_hand_worked():
    pi = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(attention_entropy(pi), [np.log(4), 0.0, np.log(2)])


def test_attention_statistics_hand_worked():
    pi = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    (row,) = attention_statistics({"l": pi}, {"l": (8, 6)})
    assert row["input_hw"] == [8, 6] and row["num_kernels"] == 4
    assert row["entropy"] == pytest.approx(np.log(2) / 3)
    assert row["entropy_norm"] == pytest.approx(np.log(2) / 3 / np.log(4))
    assert row["max_weight"] == pytest.approx(2.5 / 3)
    assert row["top_kernel_share"] == pytest.approx(2 / 3)  # kernel 0 wins twice
    np.testing.assert_allclose(row["mean_attention"], [0.5, 0.5 / 3, 1 / 3, 0.0], atol=1e-6)


def test_table4_patterns_match_the_paper():
    rows = ["----+", "---++", "--+++", "-++++", "+++++", "++++-", "+++--", "++---", "+----", "-----"]
    got = ["".join("+" if on else "-" for on in p) for p in table4_patterns(5)]
    assert got == rows


def _tiny_dynamic():
    torch.manual_seed(0)
    return nn.Sequential(DynamicConv2d(3, 4, 3, padding=1), DynamicConv2d(4, 4, 3, stride=2, padding=1),
                         DynamicConv2d(4, 4, 1), DynamicConv2d(4, 2, 1))


def test_recording_and_modes_on_a_tiny_network():
    net = _tiny_dynamic()
    x = torch.randn(3, 3, 8, 8)
    with recording_attention(net) as (records, sizes):
        net(x)
        net(x[:2])
    assert sizes == {"0": (8, 8), "1": (8, 8), "2": (4, 4), "3": (4, 4)}
    assert [a.shape for a in records["2"]] == [(3, 4), (2, 4)]
    np.testing.assert_allclose(records["0"][0].sum(1), 1.0, rtol=1e-6)
    assert all(not m.record_attention and m.last_attention is None for m in net)
    groups = resolution_groups(sizes)
    assert groups == [((8, 8), ["0", "1"]), ((4, 4), ["2", "3"])]
    reference = net(x)
    set_group_pattern(net, groups, (False, True))
    assert [m.mode for m in net] == ["average", "average", "attention", "attention"]
    with aggregation_mode(net, "average"):
        averaged = net(x)
        assert all(m.mode == "average" for m in net)
    assert all(m.mode == "attention" for m in net)
    torch.testing.assert_close(net(x), reference)
    assert not torch.allclose(averaged, reference)


@pytest.mark.usefixtures("coco_sample")
def test_inspect_attention_tool_statistics_and_plot(tmp_path, capsys):
    tool = load_tool("inspect_attention")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"""
name: tiny
model:
  backbone: {{name: mobilenet_v2, width_mult: 0.35, depth_mult: 0.5, dynamic: true}}
  head: {{name: upsample_bneck, dynamic: false}}
data: {{root: {SAMPLE_DIR}, val_ann: test_coco.json, val_images: ., image_size: [32, 32],
        heatmap_size: [8, 8], sigma: 1.0, num_workers: 0}}
""")
    from posedy.config import load_experiment
    from posedy.models import build_pose_model
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save({"model": build_pose_model(load_experiment(cfg).model).state_dict()}, ckpt)
    assert tool.main([str(cfg), "--checkpoint", str(ckpt), "--work-dir", str(tmp_path / "out"),
                      "--max-images", "1", "--skip-ap"]) == 0
    stats = json.loads((tmp_path / "out" / "attention_stats.json").read_text())
    assert stats["num_images"] == 1 and stats["num_crops"] >= 1
    assert all(0.0 <= r["entropy_norm"] <= 1.0 + 1e-9 and 0.25 <= r["max_weight"] <= 1.0
               for r in stats["layers"])
    assert stats["layers"][0]["input_hw"] == [16, 16]
    assert (tmp_path / "out" / "attention.png").stat().st_size > 1000
