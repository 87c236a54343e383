"""Helpers for the bad-input tests: a tiny experiment YAML, JSON writers, the one-line error
check, and running a tool in-process or as a real process.

Everything is CPU-only and seeded; the model is MobileNetV2 x0.35 on 64x64 crops.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from posedy.data.synthetic import SyntheticSpec
from tool_modules import load_tool  # noqa: F401  (the reliability tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
TRAIN_ANN = "annotations/person_keypoints_train2017.json"
VAL_ANN = "annotations/person_keypoints_val2017.json"
DET_FILE = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
SPEC = SyntheticSpec(train_images=6, val_images=2, image_size=(128, 128), min_height=60.0, max_height=120.0,
                     max_people=2)

EXPERIMENT = """\
name: tiny
model:
  backbone: {{name: mobilenet_v2, width_mult: 0.35, depth_mult: 0.5}}
  head: {{name: upsample_bneck}}
data:
  root: {root}
  train_ann: {train_ann}
  val_ann: {val_ann}
  train_images: images/train2017
  val_images: images/val2017
  det_file: {det_file}
  image_size: [64, 64]
  heatmap_size: [16, 16]
  sigma: 1.0
  num_workers: 0
train: {{epochs: 1, batch_size: 4, val_interval: 1, log_interval: 1, max_iters_per_epoch: 2}}
test: {{batch_size: 16}}
"""


def write_experiment(folder: Path, root: Path, *, train_ann=TRAIN_ANN, val_ann=VAL_ANN, det_file=DET_FILE,
                     text=None) -> Path:
    path = Path(folder) / "tiny.yaml"
    path.write_text(text if text is not None else
                    EXPERIMENT.format(root=root, train_ann=train_ann, val_ann=val_ann, det_file=det_file))
    return path


def coco_json(root: Path, split: str = "train2017") -> dict:
    return json.loads((Path(root) / "annotations" / f"person_keypoints_{split}.json").read_text())


def write_json(path: Path, data) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def error_line(capsys) -> str:
    """The single line a tool wrote to stderr (asserts there is exactly one 'error:' line and
    no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    log_line(lines[0])
    return lines[0]


def log_line(line: str) -> None:
    """Append the line a user saw, with the test that saw it, to $POSEDY_RELIABILITY_LOG (if set);
    docs/reliability.md takes its example lines from such a log."""
    log = os.environ.get("POSEDY_RELIABILITY_LOG")
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
        with open(log, "a") as fh:
            fh.write(f"{test}\t{line}\n")


def run_cli(tool: str, *args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>.py`` as a real process (for exit codes and stderr of a process)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(ROOT / "tools" / f"{tool}.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=timeout)
