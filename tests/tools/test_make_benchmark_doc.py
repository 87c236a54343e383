"""tools/make_benchmark_doc.py: each benchmark's JSON becomes its section; the rest of the doc stays."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
doc_tool = runpy.run_path(str(ROOT / "tools" / "make_benchmark_doc.py"), run_name="make_benchmark_doc")

MACHINE = {"cpu": "Test CPU", "cores": 2, "torch": "2.x", "python": "3.11", "date": "2026-01-01 00:00 UTC"}
INFERENCE = {
    "machine": MACHINE, "benchmark": "inference", "model": "Type-B", "input_size_wh": [192, 256], "threads": 1,
    "repeats": 3,
    "results": {"x0.5": {
        "median_ms": {"static": {"onnx": 30.0, "onnx-nchwc": 31.0}, "dynamic": {"onnx": 70.0, "onnx-nchwc": 37.5}},
        "ratio_like_for_like": {"onnx": 2.333, "onnx-nchwc": 1.21},
        "ratio_per_round": {"onnx": {"median": 2.3, "q25": 2.2, "q75": 2.4}, "onnx-nchwc": None},
        "best": {"static": "onnx", "dynamic": "onnx-nchwc", "ratio": 1.25},
        "aggregation_floor": {"kernel_mb": 40.0, "read_gbs": 10.0, "floor_ms": 4.0, "floor_ratio": 1.133}}}}
TRAIN = {"machine": MACHINE, "benchmark": "train-step", "model": "Type-B", "width": 0.5, "batch": 32,
         "input_size_wh": [192, 256], "threads": 2, "steps": 4, "malloc": "tuned",
         "median_ms": {"static": 6000.0, "dynamic": 6300.0}, "ratio_to_static": {"static": 1.0, "dynamic": 1.05},
         "cpu_s": {"user": 100.0, "system": 5.0, "major_minor_faults": [0, 1000]}}
POST = {"machine": MACHINE, "benchmark": "postprocess", "num_boxes": 100, "num_images": 10, "kept": 70,
        "select_s": 0.5, "write_s": 0.25, "total_s": 0.75, "total_s_all": [0.7, 0.75, 0.8], "json_mb": 1.0,
        "ours_oks_nms_s": 0.1, "hrnet_oks_nms_s": 2.0, "hrnet_over_ours": 20.0, "same_keep_set": True}


def test_sections_carry_the_measured_figures():
    text = doc_tool["render"]([INFERENCE, TRAIN, POST], notes="notes here")
    assert "| onnx | 30.0 | 70.0 | 2.33 | 2.30 (2.20-2.40) |" in text
    assert "| onnx-nchwc | 31.0 | 37.5 | 1.21 |  |" in text
    assert "dynamic `onnx-nchwc` 37.5 ms vs static `onnx` 30.0 ms: ratio **1.25**" in text
    assert "40.0 MB" in text
    assert "no fp32 path can beat 1.13 against the best static time" in text
    assert "malloc: tuned; the timed loop used 100 s user and 5 s system CPU time, 1000 minor page faults" in text
    assert "| dynamic | 6300 | 1.05 |" in text
    assert "| total, median of 3 | **0.75** |" in text and "(20.0x); same poses kept: yes" in text
    assert text.strip().endswith(doc_tool["END"]) and "notes here" in text


def test_update_keeps_text_outside_the_markers(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Title\n\nintro\n\n{doc_tool['BEGIN']}\nold\n{doc_tool['END']}\n\n## Kept\n")
    new = doc_tool["update_document"](doc, doc_tool["render"]([TRAIN]))
    assert new.startswith("# Title\n\nintro\n\n") and new.endswith("## Kept\n")
    assert "old" not in new and "| static | 6000 | 1.00 |" in new
