"""tools/gpu_check.sh on this (CPU) machine: CUDA parts skipped with a message, one JSON written."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from posedy.bench.gpu_check import COCO_TRAIN_INSTANCES, PAPER_EPOCHS, projected_hours

ROOT = Path(__file__).resolve().parents[2]


def test_projected_hours_hand_worked():
    # 210 x 149,813 = 31,460,730 images; at 1000 img/s that is 31,460.73 s = 8.739 h.
    assert PAPER_EPOCHS * COCO_TRAIN_INSTANCES == 31_460_730
    assert projected_hours(1000.0) == pytest.approx(31_460.73 / 3600)
    assert projected_hours(500.0, epochs=1, instances=1_800_000) == 1.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU behaviour")
def test_gpu_check_runs_on_a_cpu_machine(tmp_path):
    out = tmp_path / "gpu_check"
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", __import__("sys").executable)}
    proc = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), str(out), "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "gpu_check: no CUDA device: CUDA tests skip and the GPU throughput is not measured" in proc.stderr
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["cuda_available"] is False and result["device"] is None
    tests = result["gpu_tests"]
    assert tests["ok"] and tests["tests"] > 50 and tests["skipped"] == tests["tests"] and tests["passed"] == 0
    assert any("no CUDA device" in reason for reason in tests["skip_reasons"])
    step = result["train_step"]
    assert step["device"] == "cpu" and step["amp"] is False and "smoke" in step
    assert set(step["images_per_s"]) == {"static", "dynamic"}
    hours = step["projection"]["hours_one_gpu"]
    assert hours["static"] == round(projected_hours(step["images_per_s"]["static"]), 2)
