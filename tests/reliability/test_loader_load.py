"""Load: several training epochs with ``num_workers=2`` over a small set that includes an
undecodable image, with ``data.skip_corrupt_images: true``. Training goes on, each epoch
reports how many samples it skipped, and the process's open file descriptors and RSS stay
bounded from epoch to epoch (DataLoader workers are not persistent: fresh ones every epoch)."""

import gc
import json
import os

from reliability_helpers import coco_json, log_line, write_experiment

from posedy.config import load_experiment
from posedy.data import build_dataset
from posedy.engine import TrainHooks

EPOCHS = 4


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS in /proc/self/status")


def test_corrupt_image_with_workers_over_several_epochs(train_tool, data_copy, tmp_path, capsys):
    name = coco_json(data_copy)["images"][0]["file_name"]
    (data_copy / "images" / "train2017" / name).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 8)
    cfg_path = write_experiment(tmp_path, data_copy)
    opts = ["data.num_workers=2", "data.skip_corrupt_images=true", f"train.epochs={EPOCHS}",
            "train.val_interval=100", "train.max_iters_per_epoch=0"]
    train_set = build_dataset(load_experiment(cfg_path, opts), "train")
    per_epoch = sum(r.image_path.endswith(name) for r in train_set.records)
    iters = len(train_set) // 4
    assert per_epoch >= 1 and iters >= 2

    samples = {}

    def after_step(epoch, iteration, step):
        if iteration == iters:  # last step of the epoch, its workers still running
            samples[epoch] = (_open_fds(), _rss_mb())

    fds_before = _open_fds()
    rc = train_tool.main([str(cfg_path), "--work-dir", str(tmp_path / "w"), "--opts", *opts],
                         hooks=TrainHooks(after_step=after_step))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "Traceback" not in err

    # What the trainer prints: one warning per epoch with the count.
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: epoch {e}: {per_epoch} samples skipped, their image could not be decoded "
                        f"(blank crop, zero target weight)" for e in range(1, EPOCHS + 1)]
    log_line(warnings[0])
    records = [json.loads(line) for line in (tmp_path / "w" / "metrics.jsonl").read_text().splitlines()]
    assert [r["corrupt_samples"] for r in records if r["type"] == "epoch"] == [per_epoch] * EPOCHS

    # No leak across epochs: from epoch 2 on (epoch 1 opens the log files once) the counts are flat.
    assert sorted(samples) == list(range(1, EPOCHS + 1))
    fds = [samples[e][0] for e in range(2, EPOCHS + 1)]
    rss = [samples[e][1] for e in range(2, EPOCHS + 1)]
    assert max(fds) - min(fds) <= 2, samples
    assert rss[-1] - rss[0] < 40.0, samples
    # And nothing stays open after the run (workers, pipes, log files). A batch received from a
    # worker holds a shared-memory descriptor until it is freed, and a batch caught in a reference
    # cycle is freed by the cycle collector, whose timing shifts with every allocation: collect
    # first, so the check is about leaks, not about when the collector last ran.
    gc.collect()
    assert _open_fds() <= fds_before + 1
