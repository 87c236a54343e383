import pytest

from posedy.config import config_from_dict, config_to_dict
from posedy.engine.checkpoint import CheckpointError, save_checkpoint
from posedy.engine.runner import reconcile_resume_config

BASE = {"model": {"backbone": {"name": "mobilenet_v2"}, "head": {"name": "deconv"}}}


def _flat_layout(tree: dict) -> dict:
    """The config layout of checkpoints written before data.augment existed."""
    data = {k: v for k, v in tree["data"].items() if k != "augment"}
    data.update(tree["data"]["augment"])
    return {**tree, "data": data}


def test_resume_from_a_checkpoint_with_the_old_flat_layout(tmp_path):
    trained = config_from_dict(BASE, ["data.augment.scale_factor=0.25", "data.augment.flip=false"])
    path = save_checkpoint({"model": {}, "config": _flat_layout(config_to_dict(trained))}, tmp_path / "last.pth")
    # The same settings in the new layout: nothing differs, the run resumes as it is.
    assert reconcile_resume_config(trained, path, "refuse") is trained
    other = config_from_dict(BASE, ["data.augment.scale_factor=0.3"])
    with pytest.raises(CheckpointError, match=r"another config \(data.augment.flip False -> True, "
                                              r"data.augment.scale_factor 0.25 -> 0.3\)"):
        reconcile_resume_config(other, path, "refuse")
    # The checkpoint's values win, read from its old layout.
    assert reconcile_resume_config(other, path, "checkpoint") == trained
