"""tools/train.py end to end on a tiny synthetic COCO set: SIGKILL and resume, error exits.

The model is the real MobileNetV2 Type-B pose net at 64x32 (h x w; the backbone needs multiples
of 32) with the smallest width and depth;
4 iterations of batch 4 per epoch, 3 epochs, an iteration checkpoint every 2 iterations:
last.pth is written after steps 2, 4 (epoch end), 6, 8 (epoch end), 10 and 12 (end).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from posedy.data.synthetic import SyntheticSpec, make_synthetic_coco
from posedy.engine.checkpoint import load_checkpoint, save_checkpoint
from posedy.engine.logging import read_metrics
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parent / "train_fault_runner.py"
ITERS, EPOCHS, INTERVAL = 4, 3, 2


def tiny_config(root: Path) -> dict:
    return {
        "name": "tiny",
        "model": {"backbone": {"name": "mobilenet_v2", "width_mult": 0.35, "depth_mult": 0.34, "dynamic": True},
                  "head": {"name": "upsample_bneck", "dynamic": True}, "temperature": 30.0},
        "data": {"root": str(root), "image_size": [32, 64], "heatmap_size": [8, 16], "sigma": 1.0,
                 "num_workers": 0},
        "train": {"epochs": EPOCHS, "batch_size": 4, "lr": 1e-3, "lr_steps": [2], "tau_schedule": "linear",
                  "tau_anneal_epochs": 2, "max_iters_per_epoch": ITERS, "checkpoint_interval_iters": INTERVAL,
                  "val_interval": 2, "log_interval": 1, "seed": 1},
        "test": {"batch_size": 8, "flip": False},
    }


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_synthetic_coco(root, seed=5, spec=SyntheticSpec(train_images=10, val_images=2, image_size=(160, 120),
                                                         min_height=60.0, max_height=110.0))
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(root)))
    return path


def start_tool(args, kill_after_step=0, kill_in_save="") -> subprocess.Popen:
    cmd = [sys.executable, str(RUNNER), "--kill-after-step", str(kill_after_step),
           "--kill-in-save", kill_in_save, "--", *map(str, args)]
    # One thread each: the runs go in parallel, and OpenMP threads spinning on a busy machine
    # cost far more than they bring.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs: dict) -> dict:
    """name -> (returncode, stdout, stderr) once every process has ended."""
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = (proc.returncode, out, err)
    return results


def final_weights(work_dir: Path) -> dict:
    return load_checkpoint(work_dir / "last.pth")["model"]


def train_losses(work_dir: Path) -> dict:
    return {r["step"]: r["loss"] for r in read_metrics(work_dir / "metrics.jsonl", "train")}


def snapshot(work_dir: Path) -> dict:
    ckpt = load_checkpoint(work_dir / "last.pth")
    return {"position": (ckpt["epoch"], ckpt["iter_in_epoch"], ckpt["step"]),
            "temporaries": sorted(p.name for p in work_dir.iterdir() if p.name.endswith(".tmp"))}


@pytest.fixture(scope="module")
def runs(experiment, tmp_path_factory):
    """An uninterrupted run and two SIGKILLed ones (run in parallel), then the two resumes.

    mid_epoch: killed after step 7 (epoch 2, iteration 3); its last checkpoint is from step 6,
        in the middle of epoch 2, so the resumed run skips 2 batches of epoch 2 and repeats
        step 7 only.
    in_save: killed inside the third save of last.pth (step 6), between the fsynced temporary
        file and the rename; the step-4 checkpoint must survive.
    """
    work = {name: tmp_path_factory.mktemp(name) for name in ("reference", "mid_epoch", "in_save")}
    first = finish({
        "reference": start_tool([experiment, "--work-dir", work["reference"]]),
        "mid_epoch": start_tool([experiment, "--work-dir", work["mid_epoch"]], kill_after_step=7),
        "in_save": start_tool([experiment, "--work-dir", work["in_save"]], kill_in_save="last.pth:3"),
    })
    killed = {name: snapshot(work[name]) for name in ("mid_epoch", "in_save")}
    second = finish({
        "mid_epoch": start_tool([experiment, "--work-dir", work["mid_epoch"], "--resume", "auto"]),
        "in_save": start_tool([experiment, "--work-dir", work["in_save"], "--resume"]),
    })
    return {"work": work, "first": first, "killed": killed, "second": second}


@pytest.fixture(scope="module")
def reference(runs):
    code, out, err = runs["first"]["reference"]
    assert code == 0, err[-2000:]
    assert "done: 3 epochs, 12 iterations" in out
    return runs["work"]["reference"]


def assert_same_run(work: Path, reference: Path) -> None:
    assert train_losses(work) == train_losses(reference)
    want = final_weights(reference)
    got = final_weights(work)
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert torch.equal(got[name], value), name
    assert load_checkpoint(work / "best.pth")["best_ap"] == load_checkpoint(reference / "best.pth")["best_ap"]


def test_reference_run_writes_checkpoints_and_metrics(reference):
    last = load_checkpoint(reference / "last.pth")
    assert (last["epoch"], last["iter_in_epoch"], last["step"]) == (EPOCHS, 0, EPOCHS * ITERS)
    assert last["config"]["train"]["batch_size"] == 4 and last["tau"] == 1.0
    assert sorted(train_losses(reference)) == list(range(1, 13))
    vals = read_metrics(reference / "metrics.jsonl", "val")
    assert [v["epoch"] for v in vals] == [2, 3] and all(0.0 <= v["AP"] <= 1.0 for v in vals)


def test_sigkill_mid_epoch_then_resume_auto_matches_an_uninterrupted_run(runs, reference):
    work = runs["work"]["mid_epoch"]
    assert runs["first"]["mid_epoch"][0] == -signal.SIGKILL
    assert runs["killed"]["mid_epoch"] == {"position": (1, 2, 6), "temporaries": []}
    code, _, err = runs["second"]["mid_epoch"]
    assert code == 0, err[-2000:]
    assert "resuming from" in err and "epoch 2, iteration 3 (step 6)" in err
    assert [r["step"] for r in read_metrics(work / "metrics.jsonl", "resume")] == [6]
    assert_same_run(work, reference)


def test_sigkill_while_writing_a_checkpoint_then_resume(runs, reference):
    work = runs["work"]["in_save"]
    assert runs["first"]["in_save"][0] == -signal.SIGKILL
    killed = runs["killed"]["in_save"]
    assert killed["position"] == (1, 0, 4)  # the previous checkpoint, intact
    assert len(killed["temporaries"]) == 1 and killed["temporaries"][0].startswith(".last.pth.")
    code, _, err = runs["second"]["in_save"]
    assert code == 0, err[-2000:]
    assert [r["step"] for r in read_metrics(work / "metrics.jsonl", "resume")] == [4]
    assert not [p for p in work.iterdir() if p.name.endswith(".tmp")]
    assert_same_run(work, reference)


# ---------------------------------------------------------------- errors, in-process
def load_train_tool():
    return load_tool("train")


def run_main(capsys, args):
    code = load_train_tool().main([str(a) for a in args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    return code, lines


def test_bad_resume_path(experiment, tmp_path, capsys):
    code, errors = run_main(capsys, [experiment, "--work-dir", tmp_path / "w", "--resume", tmp_path / "nope.pth"])
    assert code == 1 and errors == [f"error: {tmp_path / 'nope.pth'}: no such checkpoint file"]


@pytest.mark.parametrize("damage", ["truncated", "pickled-code", "other-architecture"])
def test_unusable_checkpoints_are_refused_and_kept(experiment, reference, tmp_path, capsys, damage):
    work = tmp_path / "w"
    work.mkdir()
    last = work / "last.pth"
    good = (reference / "last.pth").read_bytes()
    if damage == "truncated":
        last.write_bytes(good[: len(good) // 3])
    elif damage == "pickled-code":
        torch.save({"model": {}, "hook": _Payload()}, last)
    else:
        state = load_checkpoint(reference / "last.pth")
        state["model"]["head.final.weight_extra"] = torch.zeros(1)
        state["model"].pop(sorted(state["model"])[0])
        save_checkpoint(state, last)
    before = last.read_bytes()
    code, errors = run_main(capsys, [experiment, "--work-dir", work, "--resume", "auto"])
    assert code == 1 and len(errors) == 1 and errors[0].startswith(f"error: {last}: ")
    expected = {"truncated": "truncated or corrupted", "pickled-code": "refusing to load",
                "other-architecture": "does not match the model"}[damage]
    assert expected in errors[0]
    assert last.read_bytes() == before  # nothing already written is lost
    assert not (work / "PWNED").exists()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_other_architecture_via_opts_names_the_keys(experiment, reference, tmp_path, capsys):
    # The resume's config check names the differing key before any weights are loaded.
    code, errors = run_main(capsys, [experiment, "--work-dir", tmp_path, "--resume", reference / "last.pth",
                                     "--opts", "model.backbone.width_mult=0.5"])
    assert code == 1 and len(errors) == 1 and "was trained with another config" in errors[0]
    assert "model.backbone.width_mult 0.35 -> 0.5" in errors[0]


def test_unwritable_work_dir(experiment, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code, errors = run_main(capsys, [experiment, "--work-dir", blocker / "sub"])
    assert code == 1 and errors[0].startswith(f"error: {blocker / 'sub'}: work dir is not writable")


def test_nan_loss_exits_non_zero_and_keeps_the_last_checkpoint(experiment, tmp_path, capsys):
    # At lr 1e30 the first Adam step blows the weights up; step 2's loss overflows.
    code, errors = run_main(capsys, [experiment, "--work-dir", tmp_path, "--opts", "train.lr=1.0e+30",
                                     "train.checkpoint_interval_iters=1"])
    assert code == 1 and len(errors) == 1
    assert errors[0].startswith("error: loss is ") and " at epoch 1 iteration 2 (step 2)" in errors[0]
    assert errors[0].endswith(f"last good checkpoint: {tmp_path / 'last.pth'}")
    assert load_checkpoint(tmp_path / "last.pth")["step"] == 1


def test_missing_data_is_a_one_line_error(experiment, tmp_path, capsys):
    code, errors = run_main(capsys, [experiment, "--work-dir", tmp_path / "w", "--opts", f"data.root={tmp_path}"])
    assert code == 1 and len(errors) == 1 and "person_keypoints_train2017.json" in errors[0]


def test_config_error_exits_2(experiment, tmp_path, capsys):
    code, errors = run_main(capsys, [experiment, "--work-dir", tmp_path, "--opts", "train.optimizer=lamb"])
    assert code == 2 and "train.optimizer" in errors[0]
