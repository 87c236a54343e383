"""Every experiment YAML loads and builds; COCO file names state their settings truthfully."""

import re
from pathlib import Path

import pytest
import torch

from posedy.config import load_experiment
from posedy.models import build_pose_model

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").rglob("*.yaml"))
COCO = sorted((ROOT / "experiments" / "coco").glob("*.yaml"))
NAME = re.compile(r"(?P<backbone>res18|mbv2-x1\.0|mbv2-x0\.5|mbv3-small)_(?P<bb>static|dy4)-backbone_"
                  r"(?P<head>static|dy4)-head_type(?P<type>[AB])_(?P<h>\d+)x(?P<w>\d+)_"
                  r"(?P<opt>adam)_lr(?P<lr>[0-9e.-]+)")
BACKBONES = {"res18": ("resnet18", 1.0), "mbv2-x1.0": ("mobilenet_v2", 1.0), "mbv2-x0.5": ("mobilenet_v2", 0.5),
             "mbv3-small": ("mobilenet_v3_small", 1.0)}


def test_coco_has_table10_and_table11_rows():
    # Table 10: 4 Type-A and 3 Type-B backbones, static and dynamic; Table 11: two mixed rows.
    assert len(COCO) == 16


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_loads_and_builds(path):
    cfg = load_experiment(path)
    model = build_pose_model(cfg.model)
    assert model.head is not None and model.backbone.out_channels > 0


@pytest.mark.parametrize("path", COCO, ids=lambda p: p.stem)
def test_coco_file_name_matches_settings(path):
    match = NAME.fullmatch(path.stem)
    assert match, (f"{path.name} does not follow "
                   "<backbone>_<static|dy4>-backbone_<static|dy4>-head_type<A|B>_HxW_adam_lrX")
    cfg = load_experiment(path)
    name, width = BACKBONES[match["backbone"]]
    assert (cfg.model.backbone.name, cfg.model.backbone.width_mult) == (name, width)
    assert cfg.model.backbone.dynamic == (match["bb"] == "dy4")
    assert cfg.model.head.dynamic == (match["head"] == "dy4")
    assert cfg.model.head.name == {"A": "deconv", "B": "upsample_bneck"}[match["type"]]
    assert all(k == 4 for k in (cfg.model.backbone.num_kernels, cfg.model.head.num_kernels))
    assert tuple(cfg.data.image_size) == (int(match["w"]), int(match["h"])) == (192, 256)
    assert cfg.train.optimizer == match["opt"] and cfg.train.lr == float(match["lr"]) == 1e-3
    # Section 6: 210 epochs, lr x0.1 at 170 and 200, HRNet's global batch 128 (32 per GPU on
    # 4 GPUs), tau 30 constant, COCO layout.
    assert (cfg.train.epochs, tuple(cfg.train.lr_steps), cfg.train.lr_factor, cfg.train.batch_size) == (
        210, (170, 200), 0.1, 128)
    assert cfg.model.temperature == 30.0 and cfg.train.tau_schedule == "constant"
    assert cfg.data.root == "data/coco" and cfg.name == path.stem


@pytest.mark.parametrize("stem", ["mbv2-x0.5_static-backbone_dy4-head_typeB_256x192_adam_lr1e-3",
                                  "mbv3-small_dy4-backbone_static-head_typeA_256x192_adam_lr1e-3"])
def test_tiny_forward(stem):
    torch.manual_seed(0)
    model = build_pose_model(load_experiment(ROOT / "experiments" / "coco" / f"{stem}.yaml").model).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 32)).shape == (1, 17, 16, 8)
