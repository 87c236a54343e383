"""Where the real COCO sample is found, and what the suite does without it."""

import os
import subprocess
import sys
from pathlib import Path

from posedy.sample_data import ENV_VAR, coco_sample_available, coco_sample_dir, repository_root

ROOT = Path(__file__).resolve().parents[1]


def test_default_is_the_shared_folder_beside_the_repository(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert repository_root() == ROOT
    assert coco_sample_dir() == ROOT.parent / "shared" / "data" / "coco_sample"


def test_environment_variable_points_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert coco_sample_dir() == tmp_path and not coco_sample_available()
    (tmp_path / "test_coco.json").write_text("{}")
    assert coco_sample_available()


def _run_sample_test(tmp_path, **env):
    # One sample test, run in a child pytest against a folder that has no sample.
    child_env = {k: v for k, v in os.environ.items() if k != "CI"}
    child_env.update({ENV_VAR: str(tmp_path / "nowhere"), **env})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/data/test_coco.py::test_real_coco_sample"],
                          cwd=ROOT, env=child_env, capture_output=True, text=True)


def test_missing_sample_skips_with_the_folder_named(tmp_path):
    proc = _run_sample_test(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout
    assert f"COCO sample absent: {tmp_path / 'nowhere'} has no test_coco.json" in proc.stdout


def test_missing_sample_fails_under_ci(tmp_path):
    proc = _run_sample_test(tmp_path, CI="true")
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout
    assert f"COCO sample absent: {tmp_path / 'nowhere'}" in proc.stdout and "CI is set" in proc.stdout
