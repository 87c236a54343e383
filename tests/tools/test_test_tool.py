import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from posedy.config import load_experiment
from posedy.evaluation.coco_eval import METRIC_NAMES
from posedy.models import build_pose_model
from posedy.sample_data import coco_sample_dir
from tool_modules import load_tool

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = coco_sample_dir()
SAMPLE = SAMPLE_DIR / "test_coco.json"
needs_sample = pytest.mark.usefixtures("coco_sample")  # skips (fails under CI) without the sample

test_tool = load_tool("test")

# A tiny static model on 32x32 crops keeps a full run of the tool to a few seconds on CPU
# (the tool does not care whether the convolutions are dynamic).
EXPERIMENT = f"""
name: tiny
model:
  backbone: {{name: mobilenet_v2, width_mult: 0.35, depth_mult: 0.5}}
  head: {{name: upsample_bneck}}
data:
  root: {SAMPLE_DIR}
  val_ann: test_coco.json
  val_images: .
  train_ann: test_coco.json
  train_images: .
  det_file: test_coco_det_AP_H_56.json
  image_size: [32, 32]
  heatmap_size: [8, 8]
  sigma: 1.0
  num_workers: 0
test: {{batch_size: 64}}
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exp")
    cfg_path = folder / "tiny.yaml"
    cfg_path.write_text(EXPERIMENT)
    torch.manual_seed(0)
    model = build_pose_model(load_experiment(cfg_path).model)
    ckpt = folder / "tiny.pth"
    torch.save({"model": model.state_dict(), "epoch": 1}, ckpt)
    return cfg_path, ckpt


def _gt_results(path):
    data = json.loads(SAMPLE.read_text())
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
           for a in data["annotations"] if a["num_keypoints"] > 0]
    path.write_text(json.dumps(res))
    return path


@pytest.mark.parametrize("argv,message", [
    (["x.yaml", "--checkpoint", "c.pth", "--det-boxes", "d.json", "--gt-boxes"], "not allowed with argument"),
    (["--results", "r.json"], "--results needs --ann"),
    (["x.yaml", "--checkpoint", "c.pth", "--results", "r.json", "--ann", "a.json"], "cannot be combined"),
    (["x.yaml"], "exactly one of --checkpoint and --onnx"),
    (["--checkpoint", "c.pth"], "an experiment YAML is required"),
])
def test_cli_conflicts_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        test_tool.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@needs_sample
def test_scores_a_results_file_alone(tmp_path, capsys):
    results = _gt_results(tmp_path / "gt.json")
    assert test_tool.main(["--results", str(results), "--ann", str(SAMPLE), "--work-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| gt    | 1.000 | 1.000" in out
    assert json.loads((tmp_path / "metrics.json").read_text())["AP"] == 1.0
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert test_tool.main(["--results", str(bad), "--ann", str(SAMPLE)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json: not valid JSON" in err


@needs_sample
def test_bad_checkpoints_and_work_dir_give_one_line(experiment, tmp_path, capsys):
    cfg_path, ckpt = experiment
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(ckpt.read_bytes()[:1000])
    code = tmp_path / "code.pth"
    torch.save({"model": {}, "run": print}, code)
    other = tmp_path / "other.pth"
    torch.save({"model": {"fc.weight": torch.zeros(3)}}, other)
    for path, words in ((trunc, "truncated or corrupted"), (code, "possibly code"),
                        (other, "does not match the model")):
        assert test_tool.main([str(cfg_path), "--checkpoint", str(path), "--work-dir", str(tmp_path / "w")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and path.name in err and words in err, err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert test_tool.main([str(cfg_path), "--checkpoint", str(ckpt), "--work-dir", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "work dir is not writable" in err


@needs_sample
def test_end_to_end_on_the_coco_sample(experiment, tmp_path, capsys):
    cfg_path, ckpt = experiment
    work = tmp_path / "det"
    assert test_tool.main([str(cfg_path), "--checkpoint", str(ckpt), "--work-dir", str(work),
                           "--no-progress"]) == 0
    metrics = json.loads((work / "metrics.json").read_text())
    assert tuple(metrics) == METRIC_NAMES + ("run",)
    assert metrics["run"]["num_instances"] == 118 and metrics["run"]["flip"] is True
    results = json.loads((work / "results.json").read_text())
    assert 0 < len(results) <= 118
    assert {r["image_id"] for r in results} <= {785, 40083, 196141, 197388}
    assert all(len(r["keypoints"]) == 51 for r in results)
    assert "| tiny" in capsys.readouterr().out
    # Ground-truth boxes, no flip, DARK decoding.
    work = tmp_path / "gt"
    assert test_tool.main([str(cfg_path), "--checkpoint", str(ckpt), "--work-dir", str(work), "--gt-boxes",
                           "--no-flip", "--post-process", "dark", "--no-progress"]) == 0
    metrics = json.loads((work / "metrics.json").read_text())
    run = json.loads((work / "metrics.json").read_text())["run"]
    assert run["boxes"] == "gt" and run["post_process"] == "dark" and run["flip"] is False


@needs_sample
def test_errors_exit_non_zero_from_the_command_line(tmp_path):
    results = _gt_results(tmp_path / "gt.json")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "test.py"), "--results", str(results),
                           "--ann", str(tmp_path / "missing.json")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.json'}: no such file"]


@needs_sample
def test_onnx_model_gives_the_checkpoint_results(experiment, tmp_path):
    from posedy.deploy import export_onnx

    cfg_path, ckpt = experiment
    model = build_pose_model(load_experiment(cfg_path).model)
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    onnx_file = export_onnx(model.eval(), tmp_path / "tiny.onnx", (32, 32)).path
    common = ["--gt-boxes", "--no-progress"]
    assert test_tool.main([str(cfg_path), "--checkpoint", str(ckpt), "--work-dir", str(tmp_path / "pt")] + common) == 0
    assert test_tool.main([str(cfg_path), "--onnx", str(onnx_file), "--work-dir", str(tmp_path / "ox")] + common) == 0
    pt = json.loads((tmp_path / "pt" / "results.json").read_text())
    ox = json.loads((tmp_path / "ox" / "results.json").read_text())
    assert len(pt) == len(ox) > 0
    for a, b in zip(pt, ox):
        assert a["image_id"] == b["image_id"]
        assert a["keypoints"] == pytest.approx(b["keypoints"], abs=0.02)
    # onnxruntime's NCHWc graph takes one image at a time; the runner loops over the batch.
    import onnx

    from posedy.deploy import build_nchwc_graph
    nchwc_file = tmp_path / "tiny_nchwc.onnx"
    onnx.save(build_nchwc_graph(model.eval(), (32, 32)), str(nchwc_file))
    assert test_tool.main([str(cfg_path), "--onnx", str(nchwc_file), "--work-dir", str(tmp_path / "nc")] + common) == 0
    nc = json.loads((tmp_path / "nc" / "results.json").read_text())
    assert [r["image_id"] for r in nc] == [r["image_id"] for r in pt]
    for a, b in zip(pt, nc):
        assert a["keypoints"] == pytest.approx(b["keypoints"], abs=0.02)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    assert test_tool.main([str(cfg_path), "--onnx", str(bad), "--work-dir", str(tmp_path / "b")]) == 1
