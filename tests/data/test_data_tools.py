"""The data tools run end to end (in-process through their ``main``; they only call posedy.data)."""

import json
from pathlib import Path

import cv2
import yaml
from tool_modules import load_tool

ROOT = Path(__file__).resolve().parents[2]


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _run(tool, *args, capsys=None):
    module = load_tool(Path(tool).stem)
    code = module.main([str(a) for a in args])
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


def test_make_synthetic_coco_tool(tmp_path, capsys):
    res = _run("tools/make_synthetic_coco.py", "--out", tmp_path, "--seed", "4",
               "--train-images", "2", "--val-images", "1", capsys=capsys)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("wrote 2 train images")
    data = json.loads((tmp_path / "annotations" / "person_keypoints_val2017.json").read_text())
    assert len(data["images"]) == 1
    bad = _run("tools/make_synthetic_coco.py", "--out", tmp_path, "--train-images", "-1", capsys=capsys)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "error:" in bad.stderr


def test_browse_dataset_tool(tmp_path, synthetic_root, capsys):
    cfg = {"model": {"backbone": {"name": "mobilenet_v2"}, "head": {"name": "deconv"}},
           "data": {"image_size": [96, 128], "heatmap_size": [24, 32]}}
    cfg["data"]["root"] = str(synthetic_root)
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(cfg))
    res = _run("tools/browse_dataset.py", exp, "--out", tmp_path / "out", "--n", "3", capsys=capsys)
    assert res.returncode == 0, res.stderr
    pictures = sorted((tmp_path / "out").glob("*.png"))
    assert len(pictures) == 3
    w, h = cfg["data"]["image_size"]
    assert cv2.imread(str(pictures[0])).shape == (h, 2 * w, 3)
    missing = _run("tools/browse_dataset.py", exp, "--out", tmp_path / "o2", "--opts", "data.root=/nonexistent",
                   capsys=capsys)
    assert missing.returncode == 1
    assert missing.stderr.strip() == ("error: /nonexistent/annotations/person_keypoints_train2017.json: "
                                      "no such file")
