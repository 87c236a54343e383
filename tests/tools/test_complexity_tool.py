"""tools/complexity.py: JSON shape, exact counts, one-line errors (in-process, plus one real run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tool_modules import load_tool

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "experiments/coco/mbv2-x0.5_dy4-backbone_dy4-head_typeB_256x192_adam_lr1e-3.yaml"
tool = load_tool("complexity")


def run(capsys, *args):
    code = tool.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_experiment_json_has_backbone_head_total(capsys):
    code, out, err = run(capsys, str(ROOT / EXPERIMENT), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"backbone", "head", "total"}
    assert all(isinstance(v, int) for part in result.values() for v in part.values())
    assert result["total"]["params"] == result["backbone"]["params"] + result["head"]["params"]
    # Table 10: DY-MobileNetV2 x0.5 backbone 2.7M / 98.0M (within 5%).
    assert result["backbone"]["params"] == pytest.approx(2.7e6, rel=0.05)
    assert result["backbone"]["madds"] == pytest.approx(98.0e6, rel=0.05)


def test_override_changes_the_model(capsys):
    path = str(ROOT / EXPERIMENT)
    _, dynamic, _ = run(capsys, path, "--json")
    _, static, _ = run(capsys, path, "--json", "--opts", "model.head.dynamic=false")
    assert json.loads(static)["head"]["params"] < json.loads(dynamic)["head"]["params"]
    assert json.loads(static)["backbone"] == json.loads(dynamic)["backbone"]


def test_classifier_table_output(capsys):
    code, out, _ = run(capsys, "--classifier", "resnet10", "--static", "--input-size", "64")
    assert code == 0 and out.startswith("total") and "params" in out and len(out.splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (("missing.yaml",), "missing.yaml: no such file"),
    (("--classifier", "vgg16"), "unknown classifier 'vgg16'"),
    (("--classifier", "resnet10", "--width-mult", "0.5"), "does not take width_mult"),
    (("--classifier", "resnet10", "--num-kernels", "0"), "num_kernels must be >= 1"),
])
def test_errors_are_one_line_on_stderr(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_bad_yaml_is_a_config_error(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    code, _, err = run(capsys, str(bad))
    assert code != 0 and err.strip() == f"error: {bad}: not valid YAML at line 2"


def test_command_line_classifier_json():
    """One real run of the script, as a user would."""
    proc = subprocess.run([sys.executable, "tools/complexity.py", "--classifier", "mobilenet_v2", "--static", "--json"],
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"total": {"params": 3_504_872, "madds": 300_774_272}}
