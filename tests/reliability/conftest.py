"""Fixtures for the bad-input tests: a tiny synthetic COCO set, a tiny experiment YAML and
checkpoint, the tools as modules."""

import shutil

import pytest
import torch
from reliability_helpers import SPEC, load_tool, write_experiment

from posedy.data.synthetic import make_synthetic_coco


@pytest.fixture(scope="session")
def train_tool():
    return load_tool("train")


@pytest.fixture(scope="session")
def test_tool():
    return load_tool("test")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """Tiny synthetic COCO set (read-only by convention; copy it to damage it)."""
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_coco(root, seed=0, spec=SPEC)
    return root


@pytest.fixture
def data_copy(synthetic_root, tmp_path):
    """A private copy of the synthetic set that a test may damage."""
    dst = tmp_path / "data"
    shutil.copytree(synthetic_root, dst)
    return dst


@pytest.fixture
def experiment(synthetic_root, tmp_path):
    return write_experiment(tmp_path, synthetic_root)


@pytest.fixture(scope="session")
def checkpoint(synthetic_root, tmp_path_factory):
    """A checkpoint of the tiny model (random weights, seeded)."""
    from posedy.config import load_experiment
    from posedy.models import build_pose_model

    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = build_pose_model(load_experiment(write_experiment(folder, synthetic_root)).model)
    path = folder / "tiny.pth"
    torch.save({"model": model.state_dict(), "epoch": 1}, path)
    return path
