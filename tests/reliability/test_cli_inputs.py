"""Command-line mistakes: conflicting flags (argparse: usage plus one 'error:' line, exit 2) and
output folders that cannot be written (one 'error:' line, exit 1, checked before any work)."""

import pytest
from reliability_helpers import error_line, log_line, run_cli


@pytest.mark.parametrize("argv,message", [
    (["x.yaml", "--checkpoint", "c.pth", "--det-boxes", "d.json", "--gt-boxes"],
     "argument --gt-boxes: not allowed with argument --det-boxes"),
    (["x.yaml", "--checkpoint", "c.pth", "--onnx", "m.onnx"], "give exactly one of --checkpoint and --onnx"),
    (["x.yaml", "--checkpoint", "c.pth", "--results", "r.json", "--ann", "a.json"],
     "--results scores a file alone; it cannot be combined with EXPERIMENT, --checkpoint"),
    (["x.yaml", "--checkpoint", "c.pth", "--ann", "a.json"], "--ann goes with --results"),
    (["x.yaml", "--checkpoint", "c.pth", "--batch-size", "0"], "--batch-size must be >= 1"),
], ids=["det_and_gt_boxes", "checkpoint_and_onnx", "results_and_model", "ann_without_results", "batch_size_0"])
def test_conflicting_test_flags(argv, message, test_tool, capsys):
    with pytest.raises(SystemExit) as info:
        test_tool.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tools/test.py")
    last = err.strip().splitlines()[-1]
    assert last.startswith("tools/test.py: error: ") and message in last, err
    log_line(last)


def test_conflicting_flags_real_process():
    proc = run_cli("test", "x.yaml", "--checkpoint", "c.pth", "--onnx", "m.onnx")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "tools/test.py: error: give exactly one of --checkpoint and --onnx"
    log_line(last)


@pytest.fixture
def blocked(tmp_path):
    """A folder path under a regular file: no user (root included) can create it."""
    afile = tmp_path / "a_file"
    afile.write_text("not a folder")
    return afile / "out"


def test_test_work_dir_not_writable(test_tool, experiment, checkpoint, blocked, capsys):
    rc = test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--gt-boxes",
                         "--work-dir", str(blocked), "--no-progress"])
    assert rc == 1
    assert error_line(capsys) == f"error: {blocked}: work dir is not writable (Not a directory)"


def test_test_results_mode_work_dir_not_writable(test_tool, synthetic_root, tmp_path, blocked, capsys):
    import json
    ann = synthetic_root / "annotations" / "person_keypoints_val2017.json"
    res = tmp_path / "res.json"
    res.write_text(json.dumps([{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
                                "score": 1.0} for a in json.loads(ann.read_text())["annotations"]]))
    rc = test_tool.main(["--results", str(res), "--ann", str(ann), "--work-dir", str(blocked)])
    assert rc == 1
    assert error_line(capsys) == f"error: {blocked}: cannot write there (Not a directory)"


def test_train_work_dir_not_writable(train_tool, experiment, blocked, capsys):
    rc = train_tool.main([str(experiment), "--work-dir", str(blocked)])
    assert rc == 1
    assert error_line(capsys) == f"error: {blocked}: work dir is not writable (Not a directory)"


def test_export_onnx_output_not_writable(experiment, checkpoint, blocked, capsys):
    from reliability_helpers import load_tool
    rc = load_tool("export_onnx").main([str(experiment), "--checkpoint", str(checkpoint),
                                        "--out", str(blocked / "model.onnx")])
    assert rc == 1
    assert error_line(capsys) == f"error: {blocked / 'model.onnx'}: cannot write (Not a directory)"


def test_export_onnx_nchwc_with_a_dynamic_batch(capsys):
    from reliability_helpers import load_tool
    with pytest.raises(SystemExit) as info:
        load_tool("export_onnx").main(["x.yaml", "--checkpoint", "c.pth", "--out", "m.onnx",
                                       "--format", "ort-nchwc", "--batch", "dynamic"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == ("tools/export_onnx.py: error: --format ort-nchwc runs one image at a time: "
                    "use --batch 1 or leave --batch out")
    log_line(last)


def test_make_synthetic_coco_output_not_writable(blocked, capsys):
    from reliability_helpers import load_tool
    rc = load_tool("make_synthetic_coco").main(["--out", str(blocked), "--train-images", "1", "--val-images", "1"])
    assert rc == 1
    assert error_line(capsys) == f"error: {blocked}: Not a directory"
