"""The training-time validator scores an oracle (heatmaps = targets) high and zeros near 0."""

import dataclasses

import pytest
import torch

from posedy.config import config_from_dict
from posedy.data import build_dataset
from posedy.data.synthetic import SyntheticSpec, make_synthetic_coco
from posedy.engine.validation import build_validator


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("val_data")
    make_synthetic_coco(root, seed=2, spec=SyntheticSpec(train_images=1, val_images=3, image_size=(160, 120),
                                                         min_height=60.0, max_height=110.0))
    return config_from_dict({
        "model": {"backbone": {"name": "mobilenet_v2", "width_mult": 0.35}, "head": {"name": "upsample_bneck"}},
        "data": {"root": str(root), "image_size": [32, 64], "heatmap_size": [8, 16], "sigma": 1.0,
                 "num_workers": 0},
        "test": {"batch_size": 4, "flip": False},
    })


class Replay(torch.nn.Module):
    """Returns the given heatmaps batch after batch, in dataset order."""

    def __init__(self, heatmaps):
        super().__init__()
        self.heatmaps = iter(heatmaps)

    def forward(self, images):
        return torch.stack([next(self.heatmaps) for _ in range(images.shape[0])])


@pytest.mark.parametrize("encoding,min_ap", [("subpixel", 0.85), ("hrnet", 0.55)])
def test_oracle_scores_near_one_and_zeros_score_zero(cfg, tmp_path, encoding, min_ap):
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, target_encoding=encoding))
    validate = build_validator(cfg, torch.device("cpu"), tmp_path)
    dataset = build_dataset(cfg, "val")
    targets = [dataset[i]["target"] for i in range(len(dataset))]
    # Not 1: joints are quantised to 16x8 heatmaps (4-pixel cells) before scoring; HRNet's
    # targets also round each joint to its cell first (up to 2 px per axis here; AP 0.63).
    assert validate(Replay(targets))["AP"] > min_ap
    assert (tmp_path / "val_results.json").exists()
    assert validate(Replay([torch.zeros_like(t) for t in targets]))["AP"] < 0.05
