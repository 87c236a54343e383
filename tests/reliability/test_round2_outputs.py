"""Round two, outputs: nothing already written is lost.

A fresh run into a used work dir is refused (``--overwrite`` replaces, ``--resume`` continues);
one training per work dir (a lock a dead process does not leave behind); a resume whose
config differs names the keys; malformed or NaN checkpoints are named as such; the checkpoint
is saved before validation; a full disk says so; Ctrl-C is one line and exit 130.
"""

import os
import subprocess
import sys

import pytest
import torch
from reliability_helpers import VAL_ANN, error_line, load_tool, write_experiment

from posedy.engine import TrainHooks
from posedy.engine.workdir import LOCK_NAME, work_dir_lock


def _train(train_tool, cfg, work_dir, *args, hooks=None):
    return train_tool.main([str(cfg), "--work-dir", str(work_dir), *args], hooks=hooks)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_root):
    """A finished one-epoch training (read-only by convention; copy it to change it)."""
    folder = tmp_path_factory.mktemp("trained")
    cfg = write_experiment(folder, synthetic_root)
    assert load_tool("train").main([str(cfg), "--work-dir", str(folder / "w")]) == 0
    return cfg, folder / "w"


def _copy(trained, tmp_path):
    import shutil

    cfg, work = trained
    shutil.copytree(work, tmp_path / "w")
    return cfg, tmp_path / "w"


def _bytes(work):
    return {p.name: p.read_bytes() for p in sorted(work.glob("*.pth"))}


def test_fresh_run_into_a_finished_training_is_refused(train_tool, trained, tmp_path, capsys):
    cfg, work = _copy(trained, tmp_path)
    before = _bytes(work)
    rc = _train(train_tool, cfg, work)
    assert rc == 1
    assert error_line(capsys) == (f"error: {work}: already holds last.pth and best.pth of an earlier training; "
                                  f"continue it with --resume, train into another --work-dir, or start again "
                                  f"there with --overwrite")
    assert _bytes(work) == before


def test_overwrite_starts_again(train_tool, trained, tmp_path, capsys):
    cfg, work = _copy(trained, tmp_path)
    rc = _train(train_tool, cfg, work, "--overwrite", "--opts", "train.seed=5")
    assert rc == 0
    assert "--overwrite: removed" in capsys.readouterr().err
    assert torch.load(work / "last.pth", weights_only=True)["config"]["train"]["seed"] == 5


def test_overwrite_keeps_the_old_checkpoints_when_an_input_is_bad(train_tool, trained, tmp_path, capsys):
    cfg, work = _copy(trained, tmp_path)
    before = _bytes(work)
    rc = _train(train_tool, cfg, work, "--overwrite", "--opts", f"data.val_ann={tmp_path / 'missing.json'}")
    assert rc == 1
    assert error_line(capsys) == f"error: {tmp_path / 'missing.json'}: no such file"
    assert _bytes(work) == before


def test_second_training_in_a_locked_work_dir_is_refused(train_tool, trained, tmp_path, capsys):
    cfg, work = _copy(trained, tmp_path)
    before = _bytes(work)
    # Another process holds the lock (flock locks belong to the open file, so a child holds it).
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(work / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nos.pwrite(fd, b'4242\\n', 0)\nprint('locked', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc = _train(train_tool, cfg, work, "--resume")
    finally:
        holder.kill()
        holder.wait()
    assert rc == 1
    assert error_line(capsys) == (f"error: {work}: another training (pid 4242) is running in this work dir; "
                                  f"wait for it to end or use another --work-dir")
    assert _bytes(work) == before


def test_lock_of_a_dead_process_does_not_block(tmp_path):
    # A lock file left by a killed run holds no lock: the kernel dropped it with the process.
    (tmp_path / LOCK_NAME).write_text("99999\n")
    with work_dir_lock(tmp_path):
        pass


def test_resume_with_another_learning_rate_names_the_key(train_tool, trained, tmp_path, capsys):
    """Was: trained at the checkpoint's learning rate, silently."""
    cfg, work = _copy(trained, tmp_path)
    before = _bytes(work)
    rc = _train(train_tool, cfg, work, "--resume", "--opts", "train.lr=0.01", "train.epochs=2")
    assert rc == 1
    assert error_line(capsys) == (f"error: {work / 'last.pth'}: was trained with another config (train.lr 0.001 "
                                  f"-> 0.01); resume with the checkpoint's values (--resume-config checkpoint) "
                                  f"or start a new --work-dir")
    assert _bytes(work) == before


def test_resume_config_checkpoint_wins(train_tool, trained, tmp_path):
    cfg, work = _copy(trained, tmp_path)
    rc = _train(train_tool, cfg, work, "--resume", "--resume-config", "checkpoint",
                "--opts", "train.lr=0.01", "train.epochs=2")
    assert rc == 0
    ckpt = torch.load(work / "last.pth", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["config"]["train"]["lr"] == 0.001


def test_resume_from_a_checkpoint_with_the_old_flat_data_layout(train_tool, trained, tmp_path):
    """A checkpoint written before data.augment existed stores those keys directly under data."""
    cfg, work = _copy(trained, tmp_path)
    ckpt = torch.load(work / "last.pth", weights_only=True)
    data = ckpt["config"]["data"]
    data.update(data.pop("augment"))
    torch.save(ckpt, work / "last.pth")
    assert _train(train_tool, cfg, work, "--resume", "--opts", "train.epochs=2") == 0
    ckpt = torch.load(work / "last.pth", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["config"]["data"]["augment"]["scale_factor"] == 0.35


@pytest.mark.parametrize("field", ["rng", "epoch", "nan_weights"])
def test_malformed_checkpoint_on_resume(field, train_tool, trained, tmp_path, capsys):
    cfg, work = _copy(trained, tmp_path)
    ckpt = torch.load(work / "last.pth", weights_only=True)
    if field == "rng":
        ckpt["rng"]["numpy"] = {"keys": "garbage"}
        expected = f"error: {work / 'last.pth'}: its 'rng' entry is malformed (KeyError: "
    elif field == "epoch":
        ckpt["epoch"] = "one"
        expected = f"error: {work / 'last.pth'}: its 'epoch' entry is 'one', expected an integer >= 0"
    else:
        key = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
        ckpt["model"][key] = torch.full_like(ckpt["model"][key], float("nan"))
        expected = (f"error: {work / 'last.pth'}: {key} holds NaN or infinite values "
                    f"(a diverged or damaged checkpoint)")
    torch.save(ckpt, work / "last.pth")
    before = _bytes(work)
    rc = _train(train_tool, cfg, work, "--resume", "--opts", "train.epochs=2")
    assert rc == 1
    assert error_line(capsys).startswith(expected)
    assert _bytes(work) == before


def test_checkpoint_is_saved_before_validation(train_tool, synthetic_root, data_copy, tmp_path, capsys):
    """Was: the epoch trained, then validation crashed before the checkpoint was written.

    Validation that fails (here: the val images vanish after loading) leaves last.pth with the
    epoch's weights and validation pending; the resumed run validates first."""
    cfg = write_experiment(tmp_path, data_copy)
    images = data_copy / "images" / "val2017"

    def remove_val_images(epoch, iteration, step):
        if iteration == 2:
            for p in images.iterdir():
                p.rename(tmp_path / p.name)
    rc = _train(train_tool, cfg, tmp_path / "w", hooks=TrainHooks(after_step=remove_val_images))
    assert rc == 1
    assert error_line(capsys).endswith(": missing or not a decodable image")
    ckpt = torch.load(tmp_path / "w" / "last.pth", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["validation_pending"] is True
    for p in tmp_path.glob("*.jpg"):
        p.rename(images / p.name)
    rc = _train(train_tool, cfg, tmp_path / "w", "--resume")
    assert rc == 0
    ckpt = torch.load(tmp_path / "w" / "last.pth", weights_only=True)
    assert ckpt["validation_pending"] is False and ckpt["best_epoch"] == 1
    assert (tmp_path / "w" / "best.pth").exists()


def test_full_disk_while_saving_says_so(train_tool, experiment, tmp_path, capsys, monkeypatch):
    """Was: a 34-line traceback ending in RuntimeError 'unexpected pos'."""
    import posedy.engine.checkpoint as checkpoint_module

    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 2368 vs 2256")
        return real_save(obj, f, *args, **kwargs)

    class Usage:
        free = 0
    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda path: Usage())
    rc = _train(train_tool, experiment, tmp_path / "w")
    assert rc == 1
    assert error_line(capsys) == f"error: {tmp_path / 'w' / 'best.pth'}: no space left on device"
    assert torch.load(tmp_path / "w" / "last.pth", weights_only=True)["epoch"] == 1
    assert not list((tmp_path / "w").glob(".*.tmp"))


def test_ctrl_c_is_one_line_and_exit_130(train_tool, experiment, tmp_path, capsys):
    """Was: 29-83 traceback lines (the files survived)."""
    def interrupt(epoch, iteration, step):
        if step == 3:
            raise KeyboardInterrupt
    rc = _train(train_tool, experiment, tmp_path / "w", "--opts", "train.epochs=2",
                hooks=TrainHooks(after_step=interrupt))
    assert rc == 130
    work = tmp_path / "w"
    assert error_line(capsys) == (f"error: interrupted: training stopped in epoch 2; kept {work / 'last.pth'} "
                                  f"(epoch 1 done), continue with --resume; files already written are kept "
                                  f"(every output is replaced whole or not at all)")
    assert torch.load(work / "last.pth", weights_only=True)["epoch"] == 1


def test_make_synthetic_coco_refuses_an_existing_dataset(synthetic_root, data_copy, capsys):
    """Was: the annotations were overwritten silently."""
    before = (data_copy / VAL_ANN).read_bytes()
    rc = load_tool("make_synthetic_coco").main(["--out", str(data_copy), "--train-images", "1", "--val-images", "1"])
    assert rc == 1
    assert error_line(capsys) == (f"error: {data_copy}: already holds a dataset (person_keypoints_train2017.json "
                                  f"and 1 more); use another --out or pass --overwrite to replace it")
    assert (data_copy / VAL_ANN).read_bytes() == before


def test_unexpected_exception_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch):
    from posedy.errors import DEBUG_ENV, tool_main

    @tool_main
    def main(argv=None):
        raise TypeError("unsupported operand")
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert main() == 1
    assert error_line(capsys) == f"error: unexpected TypeError: unsupported operand (set {DEBUG_ENV}=1 for the traceback)"
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert main() == 1
    assert "Traceback" in capsys.readouterr().err


def test_every_tool_has_the_one_error_boundary():
    from reliability_helpers import ROOT

    for path in sorted((ROOT / "tools").glob("*.py")):
        tool = load_tool(path.stem)
        assert hasattr(tool.main, "__wrapped__"), path.name
        assert tool.main.__code__.co_filename.endswith(os.path.join("posedy", "errors.py")), path.name


def _all_bytes(work):
    return {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}


def test_resuming_a_finished_training_says_so_and_writes_nothing(train_tool, trained, tmp_path, capsys):
    cfg, work = _copy(trained, tmp_path)
    before = _all_bytes(work)
    assert _train(train_tool, cfg, work, "--resume") == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (f"already finished: all 1 epochs are done in {work / 'last.pth'}; nothing to train "
                           f"and nothing written (raise train.epochs to go on)")
    assert _all_bytes(work) == before


@pytest.mark.parametrize("bad", ["checkpoint", "annotations"])
def test_a_bad_input_leaves_no_work_dir_it_created(train_tool, synthetic_root, tmp_path, capsys, bad):
    work = tmp_path / "new" / "w"
    if bad == "checkpoint":
        cfg, args = write_experiment(tmp_path, synthetic_root), ["--resume", str(tmp_path / "missing.pth")]
    else:
        cfg, args = write_experiment(tmp_path, synthetic_root, train_ann="annotations/missing.json"), []
    assert _train(train_tool, cfg, work, *args) == 1
    assert error_line(capsys).startswith("error: ")
    assert not (tmp_path / "new").exists()
    # A work dir that was there before is kept, with what it held.
    work.mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    assert _train(train_tool, cfg, work, *args) == 1
    assert sorted(p.name for p in work.iterdir()) == [LOCK_NAME, "notes.txt"]
    assert (work / "notes.txt").read_text() == "mine"
