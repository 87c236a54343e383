import json
import math

import numpy as np
import pytest

from posedy.data.coco import (DataError, clean_box_hrnet, clip_box, load_coco, load_detection_records,
                              load_person_records)

CATEGORY = {"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)],
            "skeleton": [[1, 2]]}


def _kps(n_visible=17):
    out = []
    for i in range(17):
        out += [10.0 + i, 20.0 + i, 2] if i < n_visible else [0, 0, 0]
    return out


def _coco(tmp_path, annotations=None, images=None, make_files=True, **overrides):
    images = images if images is not None else [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 80}]
    if annotations is None:
        annotations = [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 900.0,
                        "bbox": [10, 20, 30, 40], "keypoints": _kps(), "num_keypoints": 17}]
    data = {"images": images, "annotations": annotations, "categories": [CATEGORY]}
    data.update(overrides)
    if make_files:
        for img in images:
            (tmp_path / img["file_name"]).write_bytes(b"x")
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def _load(tmp_path, path):
    return load_person_records(load_coco(path), tmp_path, (192, 256), ann_file=path)


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_valid_file_gives_one_record(tmp_path):
    path = _coco(tmp_path)
    (rec,) = _load(tmp_path, path)
    assert rec.image_id == 7 and rec.image_path == str(tmp_path / "a.jpg")
    # HRNet's cleaning: x2 = x1 + (w - 1), so the box is 29 x 39 and 29 < 0.75 * 39.
    np.testing.assert_allclose(rec.bbox, [10, 20, 29, 39])
    np.testing.assert_allclose(rec.center, [24.5, 39.5])
    np.testing.assert_allclose(rec.scale, [39 * 0.75 * 1.25, 39 * 1.25])
    assert rec.keypoints.shape == (17, 3) and rec.keypoints.dtype == np.float32
    assert rec.score == 1.0 and rec.area == 900.0


def test_clean_box_hrnet_values():
    # x1 = max(0, x) and the width is measured from the clipped corner: [-10, 5, 50, 100] in a
    # 100 x 80 image -> x2 = min(99, 0 + 49) = 49, y2 = min(79, 5 + 99) = 79.
    np.testing.assert_allclose(clean_box_hrnet([-10, 5, 50, 100], 100, 80), [0, 5, 49, 74])
    np.testing.assert_allclose(clean_box_hrnet([10.5, 5, 20.25, 10], 100, 80), [10.5, 5, 19.25, 9])
    np.testing.assert_allclose(clean_box_hrnet([10, 5, 0.5, 10], 100, 80), [10, 5, 0, 9])
    np.testing.assert_allclose(clean_box_hrnet([-50, -60, 20, 30], 100, 80), [0, 0, 19, 29])
    assert clean_box_hrnet([120, 5, 10, 10], 100, 80) is None
    assert clean_box_hrnet([10, 85, 10, 10], 100, 80) is None


def test_gt_box_rule_mmpose_clips(tmp_path):
    path = _coco(tmp_path)
    (rec,) = load_person_records(load_coco(path), tmp_path, (192, 256), ann_file=path, box_rule="mmpose")
    np.testing.assert_allclose(rec.bbox, [10, 20, 30, 40])
    np.testing.assert_allclose(rec.center, [25, 40])
    with pytest.raises(ValueError, match="unknown box rule 'clip'"):
        load_person_records(load_coco(path), tmp_path, (192, 256), box_rule="clip")


def test_clip_box_values():
    np.testing.assert_allclose(clip_box([-10, 5, 50, 100], 100, 80), [0, 5, 40, 74])
    assert clip_box([120, 5, 10, 10], 100, 80) is None
    assert clip_box([10, 5, 0, 10], 100, 80) is None


def test_skips_crowd_and_unlabelled_and_clips(tmp_path):
    anns = [
        {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 1, "area": 50, "bbox": [0, 0, 10, 10],
         "keypoints": [0] * 51},
        {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 50, "bbox": [0, 0, 10, 10],
         "keypoints": [0] * 51},
        {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 50, "bbox": [90, 70, 30, 30],
         "keypoints": _kps(1)},
    ]
    (rec,) = _load(tmp_path, _coco(tmp_path, anns))
    np.testing.assert_allclose(rec.bbox, [90, 70, 9, 9])


@pytest.mark.parametrize("content,expected", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a COCO annotation file"),
    (json.dumps({"images": [], "categories": []}), "missing 'annotations'"),
])
def test_malformed_annotation_files(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    msg = _error(load_coco, path)
    assert str(path) in msg and expected in msg


def test_missing_file(tmp_path):
    msg = _error(load_coco, tmp_path / "nope.json")
    assert "nope.json: no such file" in msg


def test_category_without_keypoints(tmp_path):
    path = _coco(tmp_path, categories=[{"id": 1, "name": "person"}])
    assert "person category has no 'keypoints' list" in _error(load_coco, path)


def test_annotation_without_keypoints(tmp_path):
    anns = [{"id": 5, "image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 40]}]
    msg = _error(load_coco, _coco(tmp_path, anns))
    assert "annotation id 5 has no 'keypoints'" in msg and "ann.json" in msg


def test_wrong_keypoint_count(tmp_path):
    anns = [{"id": 5, "image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 40], "keypoints": [1, 2, 2] * 16}]
    msg = _error(load_coco, _coco(tmp_path, anns))
    assert "annotation id 5 has 48 keypoint values, expected 51" in msg


def test_negative_box_size(tmp_path):
    anns = [{"id": 5, "image_id": 7, "category_id": 1, "bbox": [10, 20, -3, 40], "keypoints": _kps()}]
    assert "negative bbox size" in _error(load_coco, _coco(tmp_path, anns))


def test_image_missing_on_disk(tmp_path):
    path = _coco(tmp_path, make_files=False)
    msg = _error(_load, tmp_path, path)
    assert "image id 7 is listed but" in msg and "a.jpg does not exist" in msg and str(path) in msg


@pytest.mark.parametrize("rule,bbox", [("mmpose", [10, 20, 0, 40]), ("mmpose", [150, 20, 30, 40]),
                                       ("mmpose", [-50, -60, 20, 30]), ("hrnet", [150, 20, 30, 40]),
                                       ("hrnet", [10, 20, 0.5, 1.0])])
def test_zero_area_or_outside_box_leaves_nothing(tmp_path, rule, bbox):
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 1.0, "bbox": bbox,
             "keypoints": _kps()}]
    path = _coco(tmp_path, anns)
    msg = _error(load_person_records, load_coco(path), tmp_path, (192, 256), ann_file=path, box_rule=rule)
    assert msg == f"{path}: no usable person annotations (1 box empty or outside the image)"


def test_hrnet_rule_keeps_thin_and_off_image_boxes_and_skips_zero_area(tmp_path):
    # HRNet keeps a zero-width box (its scale comes from the height) and one wholly left of and
    # above the image (cleaned to [0, 0, 19, 29]); it skips an annotation with area 0.
    anns = [{"id": i + 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": area, "bbox": bbox,
             "keypoints": _kps()}
            for i, (bbox, area) in enumerate([([10, 20, 0, 40], 1.0), ([-50, -60, 20, 30], 1.0),
                                              ([10, 20, 30, 40], 0.0)])]
    path = _coco(tmp_path, anns)
    recs = _load(tmp_path, path)
    np.testing.assert_allclose([r.bbox for r in recs], [[10, 20, 0, 39], [0, 0, 19, 29]])
    np.testing.assert_allclose(recs[0].scale, [39 * 0.75 * 1.25, 39 * 1.25])
    anns = [dict(anns[2], bbox=[10, 20, 30, 40])]
    assert _error(_load, tmp_path, _coco(tmp_path, anns)).endswith("(1 zero area)")


def test_all_joints_invisible_leaves_nothing(tmp_path):
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 1.0, "bbox": [10, 20, 30, 40],
             "keypoints": _kps(0)}]
    path = _coco(tmp_path, anns)
    assert _error(_load, tmp_path, path) == f"{path}: no usable person annotations (1 no labelled joint)"


def _dets(tmp_path, dets, raw=None):
    path = tmp_path / "dets.json"
    path.write_text(raw if raw is not None else json.dumps(dets))
    return path


def _load_dets(tmp_path, det_path, thr=0.0):
    coco = load_coco(_coco(tmp_path))
    return load_detection_records(det_path, coco, tmp_path, thr, (192, 256))


def test_detection_records(tmp_path):
    dets = [{"image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.9},
            {"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.05},
            {"image_id": 7, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.99},
            {"image_id": 7, "category_id": 1, "bbox": [90, 70, 20, 20], "score": 0.5}]
    recs = _load_dets(tmp_path, _dets(tmp_path, dets), thr=0.1)
    assert [r.score for r in recs] == [0.9, 0.5]
    np.testing.assert_allclose(recs[0].center, [25, 40])
    # Used as given (HRNet), though it reaches past the 100 x 80 image.
    np.testing.assert_allclose(recs[1].bbox, [90, 70, 20, 20])
    np.testing.assert_allclose(recs[1].center, [100, 80])
    np.testing.assert_allclose(recs[1].scale, [20 * 1.25, 20 / 0.75 * 1.25], rtol=1e-6)
    assert recs[1].area == 400.0
    assert not recs[0].keypoints.any() and recs[0].keypoints.shape == (17, 3)


def test_detection_boxes_clipped_on_request(tmp_path):
    dets = [{"image_id": 7, "category_id": 1, "bbox": [90, 70, 20, 20], "score": 0.5},
            {"image_id": 7, "category_id": 1, "bbox": [120, 70, 20, 20], "score": 0.5},
            {"image_id": 7, "category_id": 1, "bbox": [20, 30, 0, 0], "score": 0.5}]
    coco = load_coco(_coco(tmp_path))
    (rec,) = load_detection_records(_dets(tmp_path, dets), coco, tmp_path, 0.0, (192, 256), clip=True)
    np.testing.assert_allclose(rec.bbox, [90, 70, 9, 9])
    assert rec.area == 81.0
    # Unclipped, the box wholly outside the image stays; only the zero-size one has no crop.
    assert len(load_detection_records(_dets(tmp_path, dets), coco, tmp_path, 0.0, (192, 256))) == 2


@pytest.mark.parametrize("raw,expected", [
    ("nope", "not valid JSON"),
    (json.dumps({"image_id": 7}), "must be a JSON list, got dict"),
    (json.dumps([{"image_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5}]), "entry 0 lacks one of"),
    (json.dumps([{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}]), "entry 0 has a malformed bbox"),
    (json.dumps([{"image_id": 99, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]),
     "entry 0 refers to image id 99, which is not in the annotation file"),
    (json.dumps([{"image_id": 7, "category_id": 1, "bbox": [1, 2, -3, 4], "score": 0.5}]),
     "entry 0 has a negative or non-finite bbox"),
    ('[{"image_id": 7, "category_id": 1, "bbox": [1, NaN, 3, 4], "score": 0.5}]',
     "entry 0 has a negative or non-finite bbox"),
    ('[{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": NaN}]', "entry 0 has an invalid score nan"),
    (json.dumps([{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": -0.1}]),
     "entry 0 has an invalid score -0.1"),
])
def test_bad_detection_files(tmp_path, raw, expected):
    path = _dets(tmp_path, None, raw)
    msg = _error(_load_dets, tmp_path, path)
    assert msg.startswith(str(path) + ": ") and expected in msg


def test_detection_image_missing_on_disk(tmp_path):
    coco = load_coco(_coco(tmp_path))
    (tmp_path / "a.jpg").unlink()
    path = _dets(tmp_path, [{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}])
    msg = _error(load_detection_records, path, coco, tmp_path, 0.0, (192, 256))
    assert "image id 7 is listed but" in msg


def test_real_coco_sample(coco_sample):
    sample = coco_sample
    coco = load_coco(sample / "test_coco.json")
    recs = load_person_records(coco, sample, (192, 256), ann_file=sample / "test_coco.json")
    # 14 annotations, 2 of them without labelled joints.
    assert len(recs) == 12
    assert sorted({r.image_id for r in recs}) == [785, 40083, 196141, 197388]
    first = recs[0]
    assert first.image_id == 785
    # HRNet's cleaning: w - 1 and h - 1 (the box is inside the 640 x 425 image).
    np.testing.assert_allclose(first.bbox, [280.79, 44.73, 217.7, 345.68], atol=1e-4)
    np.testing.assert_allclose(first.center, [280.79 + 108.85, 44.73 + 172.84], atol=1e-3)
    np.testing.assert_allclose(first.scale, [345.68 * 0.75 * 1.25, 345.68 * 1.25], atol=1e-3)
    np.testing.assert_array_equal(first.keypoints[0], [367, 81, 2])
    dets = load_detection_records(sample / "test_coco_det_AP_H_56.json", coco, sample, 0.0, (192, 256))
    assert len(dets) == 118
    assert math.isclose(max(d.score for d in dets), 0.99999, abs_tol=1e-4)
    assert len(load_detection_records(sample / "test_coco_det_AP_H_56.json", coco, sample, 0.5,
                                      (192, 256))) < 118


def test_non_numeric_keypoints(tmp_path):
    kps = _kps()
    kps[4] = "x"
    anns = [{"id": 5, "image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 40], "keypoints": kps}]
    assert "annotation id 5 has non-numeric or non-finite keypoints" in _error(load_coco, _coco(tmp_path, anns))


def test_annotation_for_unknown_image(tmp_path):
    anns = [{"id": 5, "image_id": 8, "category_id": 1, "bbox": [10, 20, 30, 40], "keypoints": _kps()}]
    assert "annotation id 5 refers to unknown image id 8" in _error(load_coco, _coco(tmp_path, anns))
