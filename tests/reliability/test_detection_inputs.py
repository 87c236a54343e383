"""Bad person-detection JSON (``--det-boxes``), through ``tools/test.py``'s ``main`` in-process:
one 'error:' line naming the file and the entry, exit 1, no results file written."""

import math

import pytest
from reliability_helpers import DET_FILE, error_line, write_json

GOOD = {"image_id": 1000001, "category_id": 1, "bbox": [10.0, 10.0, 40.0, 80.0], "score": 0.9}

CASES = {
    "not_a_list": ({"annotations": [GOOD]}, "detection results must be a JSON list, got dict"),
    "missing_field": ([{k: v for k, v in GOOD.items() if k != "score"}],
                      "entry 0 lacks one of image_id, category_id, bbox, score"),
    "bbox_not_four_numbers": ([{**GOOD, "bbox": [10, 10, 40]}],
                              "entry 0 has a malformed bbox [10, 10, 40] (expected [x, y, w, h])"),
    "bbox_strings": ([{**GOOD, "bbox": ["10", "10", "40", "80"]}],
                     "entry 0 has a malformed bbox ['10', '10', '40', '80'] (expected [x, y, w, h])"),
    "unknown_image_id": ([GOOD, {**GOOD, "image_id": 42}],
                         "entry 1 refers to image id 42, which is not in the annotation file"),
    "negative_box": ([{**GOOD, "bbox": [10.0, 10.0, -40.0, 80.0]}],
                     "entry 0 has a negative or non-finite bbox [10.0, 10.0, -40.0, 80.0]"),
    "nan_box": ([{**GOOD, "bbox": [10.0, math.nan, 40.0, 80.0]}],
                "entry 0 has a negative or non-finite bbox [10.0, nan, 40.0, 80.0]"),
    "negative_score": ([{**GOOD, "score": -0.5}], "entry 0 has an invalid score -0.5"),
    "nan_score": ([{**GOOD, "score": math.nan}], "entry 0 has an invalid score nan"),
    "no_box_left": ([{**GOOD, "score": 0.1}], "no usable person box scores >= 0.5"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_detection_file(case, test_tool, experiment, checkpoint, tmp_path, capsys):
    content, expected = CASES[case]
    det = write_json(tmp_path / "dets.json", content)
    opts = ["--opts", "test.det_score_thr=0.5"] if case == "no_box_left" else []
    rc = test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--det-boxes", str(det),
                         "--work-dir", str(tmp_path / "out"), "--no-progress", *opts])
    assert rc == 1
    assert error_line(capsys) == f"error: {det}: {expected}"
    assert not (tmp_path / "out" / "results.json").exists()


def test_detection_file_not_json(test_tool, experiment, checkpoint, tmp_path, capsys):
    det = tmp_path / "dets.json"
    det.write_text("[{]")
    rc = test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--det-boxes", str(det),
                         "--work-dir", str(tmp_path / "out"), "--no-progress"])
    assert rc == 1
    assert error_line(capsys).startswith(f"error: {det}: not valid JSON (line 1, column 3")


def test_detection_file_missing(test_tool, experiment, checkpoint, tmp_path, capsys):
    rc = test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--det-boxes",
                         str(tmp_path / "nope.json"), "--work-dir", str(tmp_path / "out"), "--no-progress"])
    assert rc == 1
    assert error_line(capsys) == f"error: {tmp_path / 'nope.json'}: no such file"


def test_the_good_detection_file_runs(test_tool, experiment, checkpoint, synthetic_root, tmp_path, capsys):
    # Control for the cases above: the same command on the generated detections succeeds.
    rc = test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--det-boxes",
                         str(synthetic_root / DET_FILE), "--work-dir", str(tmp_path / "out"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "results.json").is_file()
