"""tools/attention_report.py: the 'Is the model dynamic?' table from run dirs."""

import json
from pathlib import Path

import pytest

from posedy.evaluation.attention import entropy_by_resolution
from tool_modules import load_tool


def _tool():
    return load_tool("attention_report")


def _run(root: Path, name: str, ap: float, table3=None, layers=None) -> Path:
    run = root / name
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"type": "val", "step": 5, "AP": ap - 0.1}) + "\n"
                                       + json.dumps({"type": "val", "step": 10, "AP": ap}) + "\n")
    if table3 is not None:
        (run / "inspect").mkdir()
        (run / "inspect" / "aggregation_ap.json").write_text(json.dumps({"table3": table3, "table4": []}))
        (run / "inspect" / "attention_stats.json").write_text(json.dumps({"layers": layers}))
    return run


def test_entropy_by_resolution_groups_layers_highest_resolution_first():
    stats = [{"input_hw": [8, 6], "entropy_norm": 0.5, "max_weight": 0.6},
             {"input_hw": [32, 24], "entropy_norm": 1.0, "max_weight": 0.25},
             {"input_hw": [8, 6], "entropy_norm": 0.7, "max_weight": 0.4}]
    assert entropy_by_resolution(stats) == [
        {"input_hw": [32, 24], "layers": 1, "entropy_norm": 1.0, "max_weight": 0.25},
        {"input_hw": [8, 6], "layers": 2, "entropy_norm": pytest.approx(0.6), "max_weight": pytest.approx(0.5)}]


def test_report_rows_gaps_and_seed_spread(tmp_path, capsys):
    table3 = {"attention": 0.60, "average": 0.10, "max": 0.0, "shuffle_kernels": 0.01, "shuffle_images": 0.55}
    layers = [{"input_hw": [16, 12], "entropy_norm": 0.9, "max_weight": 0.3}]
    runs = [_run(tmp_path, "dynamic_s0", 0.60, table3, layers), _run(tmp_path, "dynamic_s1", 0.62, table3, layers),
            _run(tmp_path, "static_s0", 0.58), _run(tmp_path, "static_s1", 0.56),
            _run(tmp_path, "tau1-constant", 0.50, table3, layers)]  # a single run: no group of its own
    out = tmp_path / "report.md"
    assert _tool().main([str(r) for r in runs] + ["--spread", "--markdown", str(out)]) == 0
    text = out.read_text()
    assert "| dynamic_s0 | 0.600 | 0.600 | 0.100 | 0.000 | 0.010 | 0.550 | 0.500 | 0.050 | 16x12: 0.90 |" in text
    assert "| static_s0 | 0.580 | - | - | - | - | - | - | - | - |" in text
    # Sample standard deviation of (0.60, 0.62) and (0.58, 0.56): 0.014.
    assert "| dynamic | 2 | 0.600, 0.620 | 0.610 | 0.014 | 0.600 - 0.620 | 0.500 | 0.050 |" in text
    assert "| static | 2 | 0.580, 0.560 | 0.570 | 0.014 | 0.560 - 0.580 | - | - |" in text
    # The per-seed lead of the first group over the second: +0.020 and +0.060.
    assert "| dynamic - static | 2 | +0.020, +0.060 | +0.040 | 0.028 | +0.020 - +0.060 | - | - |" in text
    assert capsys.readouterr().out.startswith("| run |")


def test_report_takes_the_ap_from_an_evaluation_folder(tmp_path):
    runs = [_run(tmp_path, "dynamic_s0", 0.60), _run(tmp_path, "static_s0", 0.58)]
    for run, ap in zip(runs, (0.51, 0.49)):
        (run / "val_gt").mkdir()
        (run / "val_gt" / "metrics.json").write_text(json.dumps({"AP": ap}))
    out = tmp_path / "report.md"
    assert _tool().main([str(r) for r in runs] + ["--ap-from", "val_gt", "--markdown", str(out)]) == 0
    assert "| dynamic_s0 | 0.510 |" in out.read_text() and "| static_s0 | 0.490 |" in out.read_text()


def test_report_spread_refuses_a_run_without_the_evaluation(tmp_path, capsys):
    runs = [_run(tmp_path, "dynamic_s0", 0.60), _run(tmp_path, "dynamic_s1", 0.62)]
    assert _tool().main([str(r) for r in runs] + ["--spread", "--ap-from", "val_gt"]) == 1
    assert capsys.readouterr().err == "error: dynamic_s0: no AP in its val_gt/metrics.json\n"


def test_report_refuses_a_dir_that_is_not_a_run(tmp_path, capsys):
    assert _tool().main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}: not a training work dir")
