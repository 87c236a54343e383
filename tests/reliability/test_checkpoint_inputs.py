"""Bad checkpoints given to ``tools/test.py --checkpoint`` and ``tools/train.py --resume``:
one 'error:' line naming the file, exit 1, the file itself left as it was, nothing run from it."""

import pytest
import torch
from reliability_helpers import error_line

from posedy.config import load_experiment
from posedy.models import build_pose_model


def _test(test_tool, experiment, ckpt, tmp_path):
    return test_tool.main([str(experiment), "--checkpoint", str(ckpt), "--gt-boxes",
                           "--work-dir", str(tmp_path / "out"), "--no-progress"])


def _other_architecture(experiment, path):
    cfg = load_experiment(experiment, ["model.backbone.name=resnet10", "model.backbone.width_mult=1.0",
                                          "model.backbone.depth_mult=1.0", "model.head.name=deconv"])
    torch.manual_seed(0)
    torch.save({"model": build_pose_model(cfg.model).state_dict()}, path)
    return path


def test_checkpoint_of_another_architecture_names_the_keys(test_tool, experiment, tmp_path, capsys):
    ckpt = _other_architecture(experiment, tmp_path / "resnet.pth")
    rc = _test(test_tool, experiment, ckpt, tmp_path)
    line = error_line(capsys)
    assert rc == 1
    assert line.startswith(f"error: {ckpt}: does not match the model (another architecture?); ")
    assert "missing: backbone." in line and "unexpected: backbone." in line and " more" in line
    assert not (tmp_path / "out" / "results.json").exists()


def test_width_mismatch_names_the_shapes(test_tool, experiment, tmp_path, capsys):
    cfg = load_experiment(experiment, ["model.backbone.width_mult=0.5"])
    ckpt = tmp_path / "x0.5.pth"
    torch.save({"model": build_pose_model(cfg.model).state_dict()}, ckpt)
    rc = _test(test_tool, experiment, ckpt, tmp_path)
    line = error_line(capsys)
    assert rc == 1
    assert "shape mismatch (checkpoint vs model): backbone." in line and " vs (" in line


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_truncated_checkpoint(damage, test_tool, experiment, checkpoint, tmp_path, capsys):
    data = checkpoint.read_bytes()
    ckpt = tmp_path / "cut.pth"
    ckpt.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    rc = _test(test_tool, experiment, ckpt, tmp_path)
    assert rc == 1
    reason = {"truncated": "PytorchStreamReader failed reading zip archive: failed finding central directory",
              "empty": "EOFError"}[damage]
    assert error_line(capsys) == f"error: {ckpt}: not a readable checkpoint, truncated or corrupted ({reason})"


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: code from the file would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_with_pickled_code_is_refused(test_tool, experiment, checkpoint, tmp_path, capsys):
    marker = tmp_path / "code_ran"
    state = torch.load(checkpoint, weights_only=True)
    ckpt = tmp_path / "evil.pth"
    torch.save({**state, "hook": _Payload(marker)}, ckpt)
    rc = _test(test_tool, experiment, ckpt, tmp_path)
    assert rc == 1
    assert error_line(capsys) == (f"error: {ckpt}: contains pickled objects other than tensors and plain "
                                  f"data (possibly code); refusing to load it")
    assert not marker.exists()


def test_checkpoint_path_missing(test_tool, experiment, tmp_path, capsys):
    rc = _test(test_tool, experiment, tmp_path / "nope.pth", tmp_path)
    assert rc == 1
    assert error_line(capsys) == f"error: {tmp_path / 'nope.pth'}: no such checkpoint file"


def test_resume_from_another_architecture_keeps_the_file(train_tool, experiment, tmp_path, capsys):
    work = tmp_path / "w"
    work.mkdir()
    ckpt = _other_architecture(experiment, work / "last.pth")
    before = ckpt.read_bytes()
    rc = train_tool.main([str(experiment), "--work-dir", str(work), "--resume"])
    line = error_line(capsys)
    assert rc == 1
    assert line.startswith(f"error: {ckpt}: does not match the model (another architecture?); ")
    assert ckpt.read_bytes() == before
    assert not (work / "best.pth").exists()
