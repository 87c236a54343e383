import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posedy.evaluation import results as results_mod
from posedy.evaluation.coco_eval import METRIC_NAMES, evaluate_coco_keypoints, format_metrics_table
from posedy.evaluation.results import load_keypoint_results, write_keypoint_results
from posedy.sample_data import coco_sample_dir

SAMPLE = coco_sample_dir() / "test_coco.json"
needs_sample = pytest.mark.usefixtures("coco_sample")  # skips (fails under CI) without the sample


def test_results_file_round_trip(tmp_path):
    kps = np.array([[[1.234567, -2.5, 0.123456], [640.0, 0.004, 1.0]]])
    path = tmp_path / "res.json"
    write_keypoint_results(path, [785], kps, [0.123456789012])
    data = load_keypoint_results(path)
    # Full float64 precision, as HRNet writes its results.
    assert data == [{"image_id": 785, "category_id": 1,
                     "keypoints": [1.234567, -2.5, 0.123456, 640.0, 0.004, 1.0], "score": 0.123456789012}]
    third = 1.0 / 3.0
    write_keypoint_results(path, [1], np.full((1, 1, 3), third), [third])
    assert load_keypoint_results(path)[0]["keypoints"] == [third] * 3
    assert [p.name for p in tmp_path.iterdir()] == ["res.json"]


def test_results_writer_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "res.json"
    path.write_text("old")

    def crash(src, dst):
        raise OSError("disk full")
    import posedy.fileio  # the one atomic writer the results file goes through
    monkeypatch.setattr(posedy.fileio.os, "replace", crash)
    with pytest.raises(OSError):
        write_keypoint_results(path, [1], np.zeros((1, 17, 3)), [1.0])
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["res.json"]
    with pytest.raises(ValueError, match="NaN"):
        results_mod.format_keypoint_results([1], np.full((1, 17, 3), np.nan), [1.0])


def test_load_results_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="bad.json: expected a JSON list"):
        load_keypoint_results(bad)
    bad.write_text("[{")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_keypoint_results(bad)


def _gt_as_results(coco, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    res = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        if ann["num_keypoints"] == 0:
            continue
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        kps[:, :2] += rng.normal(0, jitter, (len(kps), 2))
        kps[:, 2] = 1.0
        res.append({"image_id": ann["image_id"], "category_id": 1,
                    "keypoints": kps.reshape(-1).tolist(), "score": float(rng.uniform(0.5, 1))})
    return res


@needs_sample
def test_ground_truth_as_predictions_scores_one(tmp_path, capsys):
    coco = COCO(str(SAMPLE))
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(_gt_as_results(coco)))
    metrics = evaluate_coco_keypoints(str(SAMPLE), path, print_table=True)
    assert capsys.readouterr().out.splitlines()[-1].startswith("| gt    | 1.000 |")
    assert tuple(metrics) == METRIC_NAMES
    assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0 and metrics["AP .5"] == 1.0
    table = format_metrics_table(metrics, "gt")
    assert table.splitlines()[0].startswith("| Model | AP ")


@needs_sample
def test_equals_plain_pycocotools(tmp_path):
    coco = COCO(str(SAMPLE))
    path = tmp_path / "noisy.json"
    path.write_text(json.dumps(_gt_as_results(coco, jitter=6.0)))
    ours = evaluate_coco_keypoints(coco, str(path))
    ev = COCOeval(coco, coco.loadRes(str(path)), iouType="keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert 0.1 < ours["AP"] < 0.99
    assert [ours[k] for k in METRIC_NAMES] == pytest.approx(list(ev.stats[:10]), abs=0)


@needs_sample
def test_evaluator_edge_cases(tmp_path):
    assert evaluate_coco_keypoints(str(SAMPLE), []) == {k: 0.0 for k in METRIC_NAMES}
    with pytest.raises(ValueError, match="not in the annotation file"):
        evaluate_coco_keypoints(str(SAMPLE), [{"image_id": -4, "category_id": 1,
                                               "keypoints": [0.0] * 51, "score": 1.0}])
    with pytest.raises(ValueError, match="missing.json: no such file"):
        evaluate_coco_keypoints(tmp_path / "missing.json", [])
