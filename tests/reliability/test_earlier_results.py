"""Outputs go beside the model a tool was given, and an earlier result is never replaced silently:
``tools/test.py`` (checkpoint, ONNX, ``--results``) and ``tools/inspect_attention.py`` refuse a
work dir that holds their files unless ``--overwrite``, and leave those files byte for byte."""

import json
import shutil

import torch
from reliability_helpers import VAL_ANN, error_line, load_tool

from posedy.config import load_experiment
from posedy.models import build_pose_model


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _refusal(path):
    return f"error: {path}: already exists (an earlier run's result); pass --overwrite to replace it, or another --work-dir"


def _assert_rerun_refused(main, argv, out, first_output, capsys):
    """A second run into ``out`` exits 1 with the refusal naming ``first_output`` and leaves every
    file of ``out`` byte for byte; returns that snapshot."""
    capsys.readouterr()
    before = _snapshot(out)
    assert main(argv) == 1
    assert error_line(capsys) == _refusal(out / first_output)
    assert _snapshot(out) == before
    return before


def test_test_writes_beside_the_checkpoint_and_refuses_to_replace(test_tool, experiment, checkpoint, tmp_path,
                                                                   monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "best.pth"
    shutil.copy(checkpoint, ckpt)
    monkeypatch.chdir(tmp_path)  # a default under work_dirs/ of the current folder would show up here
    argv = [str(experiment), "--checkpoint", str(ckpt), "--gt-boxes", "--no-progress"]
    assert test_tool.main(argv) == 0
    out = run / "test"
    assert sorted(_snapshot(out)) == ["metrics.json", "results.json"]
    assert not (tmp_path / "work_dirs").exists()
    before = _assert_rerun_refused(test_tool.main, argv, out, "results.json", capsys)
    # --overwrite replaces them (the same model: the same results, a new metrics.json run record).
    assert test_tool.main(argv + ["--overwrite"]) == 0
    assert (out / "results.json").read_bytes() == before["results.json"]


def test_test_refuses_when_only_metrics_json_is_there(test_tool, experiment, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{}\n")
    rc = test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--gt-boxes", "--work-dir", str(out),
                         "--no-progress"])
    assert rc == 1
    assert error_line(capsys) == _refusal(out / "metrics.json")
    assert _snapshot(out) == {"metrics.json": b"{}\n"}


def test_onnx_results_go_beside_the_onnx_file(test_tool, experiment, checkpoint, tmp_path, capsys):
    onnx = tmp_path / "export" / "m.onnx"
    onnx.parent.mkdir()
    assert load_tool("export_onnx").main([str(experiment), "--checkpoint", str(checkpoint), "--out", str(onnx)]) == 0
    argv = [str(experiment), "--onnx", str(onnx), "--gt-boxes", "--no-progress"]
    assert test_tool.main(argv) == 0
    out = onnx.parent / "test"
    assert json.loads((out / "metrics.json").read_text())["run"]["checkpoint"] == str(onnx)
    _assert_rerun_refused(test_tool.main, argv, out, "results.json", capsys)


def test_scoring_a_results_file_refuses_to_replace_metrics_json(test_tool, synthetic_root, tmp_path, capsys):
    images = json.loads((synthetic_root / VAL_ANN).read_text())["images"]
    results = tmp_path / "r.json"
    results.write_text(json.dumps([{"image_id": img["id"], "category_id": 1, "keypoints": [5.0, 5.0, 0.9] * 17,
                                    "score": 0.8} for img in images]))
    out = tmp_path / "out"
    argv = ["--results", str(results), "--ann", str(synthetic_root / VAL_ANN), "--work-dir", str(out)]
    assert test_tool.main(argv) == 0
    _assert_rerun_refused(test_tool.main, argv, out, "metrics.json", capsys)
    assert test_tool.main(argv + ["--overwrite"]) == 0


def test_inspect_attention_writes_beside_the_checkpoint_and_refuses_to_replace(experiment, tmp_path, capsys):
    tool = load_tool("inspect_attention")
    opts = ["--opts", "model.backbone.dynamic=true"]
    torch.manual_seed(0)
    model = build_pose_model(load_experiment(experiment, opts[1:]).model)
    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "last.pth"
    torch.save({"model": model.state_dict()}, ckpt)
    argv = [str(experiment), "--checkpoint", str(ckpt), "--max-images", "1", "--skip-ap"] + opts
    assert tool.main(argv) == 0
    out = run / "inspect"
    assert {"attention_stats.json", "aggregation_ap.json", "attention.png"} <= set(_snapshot(out))
    _assert_rerun_refused(tool.main, argv, out, "attention_stats.json", capsys)
    assert tool.main(argv + ["--overwrite"]) == 0
