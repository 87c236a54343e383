"""``tools/test.py`` over a val set with an undecodable image, and out of memory at inference
(simulated): one 'error:' line and exit 1, or, with ``data.skip_corrupt_images``, a counted
warning and a normal run."""

import json

import pytest
import torch
from reliability_helpers import coco_json, error_line, log_line, write_experiment


def _damage_first_val_image(data_root):
    name = coco_json(data_root, "val2017")["images"][0]["file_name"]
    path = data_root / "images" / "val2017" / name
    path.write_bytes(path.read_bytes()[:100])  # truncated JPEG
    return path


def _run(test_tool, cfg, checkpoint, out, *opts):
    return test_tool.main([str(cfg), "--checkpoint", str(checkpoint), "--gt-boxes", "--work-dir", str(out),
                           "--no-progress", "--opts", *opts])


@pytest.mark.parametrize("workers", [0, 1])
def test_undecodable_val_image_is_an_error(workers, test_tool, data_copy, checkpoint, tmp_path, capsys):
    bad = _damage_first_val_image(data_copy)
    cfg = write_experiment(tmp_path, data_copy)
    rc = _run(test_tool, cfg, checkpoint, tmp_path / "out", f"data.num_workers={workers}")
    assert rc == 1
    assert error_line(capsys) == f"error: {bad}: missing or not a decodable image"
    assert not (tmp_path / "out" / "results.json").exists()


def test_undecodable_val_image_skipped_when_configured(test_tool, data_copy, checkpoint, tmp_path, capsys):
    bad = _damage_first_val_image(data_copy)
    people = sum(a["image_id"] == coco_json(data_copy, "val2017")["images"][0]["id"]
                 for a in coco_json(data_copy, "val2017")["annotations"])
    cfg = write_experiment(tmp_path, data_copy)
    rc = _run(test_tool, cfg, checkpoint, tmp_path / "out", "data.num_workers=1", "data.skip_corrupt_images=true")
    err = capsys.readouterr().err
    assert rc == 0, err
    assert bad.exists()
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [
        f"warning: {people} instance(s) skipped, their image could not be decoded (data.skip_corrupt_images)"]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]["num_corrupt"] == people
    log_line(f"warning: {people} instance(s) skipped, their image could not be decoded (data.skip_corrupt_images)")


def test_out_of_memory_at_inference_names_the_batch_size(test_tool, experiment, checkpoint, tmp_path,
                                                         monkeypatch, capsys):
    from posedy.models.pose_net import PoseNet

    def oom(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(PoseNet, "forward", oom)
    rc = _run(test_tool, experiment, checkpoint, tmp_path / "out")
    assert rc == 1
    assert error_line(capsys) == "error: out of memory on cpu with test.batch_size=16; lower it, e.g. --batch-size 8"
    assert not (tmp_path / "out" / "results.json").exists()
