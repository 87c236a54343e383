"""Atomic save, safe loading with one-line errors, RNG state round trip."""

import os
import random

import numpy as np
import pytest
import torch
from engine_standins import TinyPoseNet, TinyPoseNetWide

from posedy.engine.checkpoint import (CheckpointError, capture_rng_state, load_checkpoint,
                                      remove_stale_temporaries, restore_rng_state, save_checkpoint)


def test_save_then_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = TinyPoseNet()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3, 64, 48)).sum().backward()
    optimizer.step()
    path = save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3},
                           tmp_path / "last.pth")
    other = TinyPoseNet()
    other_opt = torch.optim.Adam(other.parameters())
    ckpt = load_checkpoint(path, other, other_opt)
    assert ckpt["epoch"] == 3
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], other_opt.state_dict()["state"][0]["exp_avg"])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_failure_before_rename_keeps_the_previous_file(tmp_path):
    path = tmp_path / "last.pth"
    save_checkpoint({"model": {"w": torch.ones(2)}}, path)
    before = path.read_bytes()
    seen = []

    def crash(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp.stat().st_size > 0  # fully written, same folder
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"model": {"w": torch.zeros(2)}}, path, before_replace=crash)
    assert path.read_bytes() == before
    assert not seen[0].exists()  # the temporary is cleaned up
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".last.pth.abc123.tmp").write_bytes(b"partial")
    (tmp_path / "keep.tmp").write_bytes(b"not ours")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".last.pth.abc123.tmp"]
    assert (tmp_path / "keep.tmp").exists()


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pth: no such checkpoint file$"):
        load_checkpoint(tmp_path / "nope.pth")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_file_is_a_one_line_error(tmp_path, damage):
    path = tmp_path / "last.pth"
    save_checkpoint({"model": TinyPoseNet().state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, TinyPoseNet())
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "truncated or corrupted" in message


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_pickled_code_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"model": TinyPoseNet().state_dict(), "extra": _Payload()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: contains pickled objects .*refusing to load"):
        load_checkpoint(path, TinyPoseNet())
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_other_architecture_names_the_keys(tmp_path):
    path = save_checkpoint({"model": TinyPoseNetWide().state_dict()}, tmp_path / "wide.pth")
    model = TinyPoseNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model)
    message = str(info.value)
    assert "wide.pth: does not match the model" in message and "\n" not in message
    assert "shape mismatch (checkpoint vs model): stem.0.weight (12, 3, 3, 3) vs (8, 3, 3, 3)" in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    state = TinyPoseNet().state_dict()
    state["extra.weight"] = state.pop("head.weight")
    path = save_checkpoint({"model": state}, tmp_path / "renamed.pth")
    with pytest.raises(CheckpointError, match=r"1 missing: head\.weight; 1 unexpected: extra\.weight"):
        load_checkpoint(path, TinyPoseNet())


def test_bare_and_ddp_state_dicts_load(tmp_path):
    model = TinyPoseNet()
    bare = save_checkpoint(model.state_dict(), tmp_path / "bare.pth")
    ddp = save_checkpoint({"model": {f"module.{k}": v for k, v in model.state_dict().items()}},
                          tmp_path / "ddp.pth")
    for path in (bare, ddp):
        other = TinyPoseNet()
        load_checkpoint(path, other)
        assert torch.equal(other.head.weight, model.head.weight)


def test_missing_optimizer_section(tmp_path):
    model = TinyPoseNet()
    path = save_checkpoint({"model": model.state_dict()}, tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match="has no 'optimizer' section"):
        load_checkpoint(path, model, torch.optim.Adam(model.parameters()))


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    path = save_checkpoint({"model": {}, "rng": capture_rng_state()}, tmp_path / "rng.pth")
    want = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn()) == want
