"""Training that cannot go on: a non-finite loss stops with the iteration named and the last
good checkpoint kept; out of memory names the batch size to lower. Simulated in-process
through ``tools/train.py``'s ``main`` by patching the loss."""

import math

import pytest
import torch
from reliability_helpers import error_line

from posedy.engine.checkpoint import load_checkpoint
from posedy.engine.loss import JointsMSELoss


def _fail_at_call(monkeypatch, call, make_result):
    real_forward = JointsMSELoss.forward
    calls = {"n": 0}

    def forward(self, output, target, target_weight):
        calls["n"] += 1
        loss = real_forward(self, output, target, target_weight)
        return make_result(loss) if calls["n"] == call else loss

    monkeypatch.setattr(JointsMSELoss, "forward", forward)


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_loss_names_the_iteration_and_keeps_last_good(bad, train_tool, experiment, tmp_path,
                                                                  monkeypatch, capsys):
    work = tmp_path / "w"
    # 2 iterations per epoch; the 4th loss (epoch 2, iteration 2) is bad.
    _fail_at_call(monkeypatch, 4, lambda loss: loss * bad)
    rc = train_tool.main([str(experiment), "--work-dir", str(work), "--opts", "train.epochs=3"])
    line = error_line(capsys)
    assert rc == 1
    assert line == (f"error: loss is {bad} at epoch 2 iteration 2 (step 4); stopped without saving, "
                    f"last good checkpoint: {work / 'last.pth'}")
    ckpt = load_checkpoint(work / "last.pth")  # weights_only; a whole file from the end of epoch 1
    assert (ckpt["epoch"], ckpt["iter_in_epoch"], ckpt["step"]) == (1, 0, 2)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert sorted(p.name for p in work.iterdir() if p.suffix == ".tmp") == []


def test_non_finite_loss_at_the_first_iteration(train_tool, experiment, tmp_path, monkeypatch, capsys):
    work = tmp_path / "w"
    _fail_at_call(monkeypatch, 1, lambda loss: loss * math.nan)
    rc = train_tool.main([str(experiment), "--work-dir", str(work)])
    assert rc == 1
    assert error_line(capsys) == ("error: loss is nan at epoch 1 iteration 1 (step 1); stopped without saving, "
                                  "last good checkpoint: none yet")
    assert not (work / "last.pth").exists()


def test_out_of_memory_names_the_batch_size_to_lower(train_tool, experiment, tmp_path, monkeypatch, capsys):
    def oom(loss):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    _fail_at_call(monkeypatch, 2, oom)
    rc = train_tool.main([str(experiment), "--work-dir", str(tmp_path / "w")])
    assert rc == 1
    assert error_line(capsys) == ("error: CUDA out of memory at epoch 1 iteration 2 with train.batch_size=4 "
                                  "(4 per GPU); lower it, e.g. --opts train.batch_size=2")
