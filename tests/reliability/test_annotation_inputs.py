"""Bad annotation JSON and bad image files, through ``tools/train.py``'s ``main`` in-process.

Every problem found while loading stops before training with one 'error:' line naming the
file and exit 1. Instances a top-down pipeline cannot use (no labelled joint, an empty or
out-of-image box) are skipped; a file where nothing usable remains is an error with the counts.
"""

import pytest
from reliability_helpers import TRAIN_ANN, coco_json, error_line, write_experiment, write_json


def _train(train_tool, data_root, tmp_path, *opts):
    cfg = write_experiment(tmp_path, data_root)
    return train_tool.main([str(cfg), "--work-dir", str(tmp_path / "w"), "--opts", *opts])


def _with_annotations(data_root, mutate):
    data = coco_json(data_root)
    mutate(data)
    write_json(data_root / TRAIN_ANN, data)
    return data_root / TRAIN_ANN


def test_annotation_file_not_json(train_tool, data_copy, tmp_path, capsys):
    (data_copy / TRAIN_ANN).write_text("{'images': [")
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys) == (f"error: {data_copy / TRAIN_ANN}: not valid JSON "
                                  f"(line 1, column 2: Expecting property name enclosed in double quotes)")


def test_annotation_file_not_coco(train_tool, data_copy, tmp_path, capsys):
    write_json(data_copy / TRAIN_ANN, {"images": [], "people": []})
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys) == f"error: {data_copy / TRAIN_ANN}: not a COCO annotation file (missing 'annotations')"


def test_annotation_file_is_a_detection_list(train_tool, data_copy, tmp_path, capsys):
    write_json(data_copy / TRAIN_ANN, [{"image_id": 1, "bbox": [0, 0, 1, 1]}])
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert "not a COCO annotation file (top level is a list" in error_line(capsys)


def test_annotation_without_keypoints(train_tool, data_copy, tmp_path, capsys):
    path = _with_annotations(data_copy, lambda d: d["annotations"][1].pop("keypoints"))
    rc = _train(train_tool, data_copy, tmp_path)
    ann_id = coco_json(data_copy)["annotations"][1]["id"]
    assert rc == 1
    assert error_line(capsys) == f"error: {path}: annotation id {ann_id} has no 'keypoints'"


def test_category_without_keypoint_names(train_tool, data_copy, tmp_path, capsys):
    path = _with_annotations(data_copy, lambda d: d["categories"][0].pop("keypoints"))
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys) == f"error: {path}: person category has no 'keypoints' list"


def test_wrong_keypoint_count_in_an_annotation(train_tool, data_copy, tmp_path, capsys):
    def drop_joint(d):
        d["annotations"][0]["keypoints"] = d["annotations"][0]["keypoints"][:48]
    path = _with_annotations(data_copy, drop_joint)
    rc = _train(train_tool, data_copy, tmp_path)
    ann_id = coco_json(data_copy)["annotations"][0]["id"]
    assert rc == 1
    assert error_line(capsys) == (f"error: {path}: annotation id {ann_id} has 48 keypoint values, "
                                  f"expected 51 (17 joints x 3)")


def test_wrong_keypoint_count_against_the_model(train_tool, synthetic_root, tmp_path, capsys):
    rc = _train(train_tool, synthetic_root, tmp_path, "model.num_joints=14")
    assert rc == 1
    assert error_line(capsys) == (f"error: {synthetic_root / TRAIN_ANN}: person category lists 17 keypoints, "
                                  f"expected 14")


def test_image_listed_but_missing_on_disk(train_tool, data_copy, tmp_path, capsys):
    name = coco_json(data_copy)["images"][2]["file_name"]
    (data_copy / "images" / "train2017" / name).unlink()
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys) == (f"error: {data_copy / TRAIN_ANN}: image id 3 is listed but "
                                  f"{data_copy / 'images' / 'train2017' / name} does not exist")
    assert not (tmp_path / "w" / "last.pth").exists()


def test_annotation_for_an_unknown_image_id(train_tool, data_copy, tmp_path, capsys):
    path = _with_annotations(data_copy, lambda d: d["annotations"][0].update(image_id=999))
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    line = error_line(capsys)
    assert line.startswith(f"error: {path}: annotation id ") and line.endswith("refers to unknown image id 999")


def test_negative_bbox_size(train_tool, data_copy, tmp_path, capsys):
    path = _with_annotations(data_copy, lambda d: d["annotations"][0].update(bbox=[10, 10, -5, 20]))
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys).startswith(f"error: {path}: annotation id ")
    # (the line ends "has a negative bbox size [10, 10, -5, 20]")


@pytest.mark.parametrize("box", [[10.0, 10.0, 0.0, 0.0], [500.0, 500.0, 40.0, 80.0]],
                         ids=["zero_area", "outside_image"])
def test_unusable_boxes_are_skipped(box, data_copy, synthetic_root, tmp_path):
    from posedy.config import load_experiment
    from posedy.data import build_dataset

    _with_annotations(data_copy, lambda d: d["annotations"][0].update(bbox=box))
    damaged = build_dataset(load_experiment(write_experiment(tmp_path, data_copy)), "train")
    intact = build_dataset(load_experiment(write_experiment(tmp_path, synthetic_root)), "train")
    assert len(damaged) == len(intact) - 1


def test_only_empty_or_outside_boxes_is_an_error_with_counts(train_tool, data_copy, tmp_path, capsys):
    def outside(d):
        for a in d["annotations"]:
            a["bbox"] = [500.0, 500.0, 10.0, 10.0]
    path = _with_annotations(data_copy, outside)
    n = len(coco_json(data_copy)["annotations"])
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys) == (f"error: {path}: no usable person annotations "
                                  f"({n} box empty or outside the image)")


def test_all_joints_invisible_is_an_error_with_counts(train_tool, data_copy, tmp_path, capsys):
    def unlabel(d):
        for a in d["annotations"]:
            a["keypoints"] = [0] * 51
            a["num_keypoints"] = 0
    path = _with_annotations(data_copy, unlabel)
    n = len(coco_json(data_copy)["annotations"])
    rc = _train(train_tool, data_copy, tmp_path)
    assert rc == 1
    assert error_line(capsys) == f"error: {path}: no usable person annotations ({n} no labelled joint)"


def test_a_person_with_no_labelled_joint_is_skipped(data_copy, synthetic_root, tmp_path):
    from posedy.config import load_experiment
    from posedy.data import build_dataset

    _with_annotations(data_copy, lambda d: d["annotations"][0].update(keypoints=[0] * 51))
    damaged = build_dataset(load_experiment(write_experiment(tmp_path, data_copy)), "train")
    intact = build_dataset(load_experiment(write_experiment(tmp_path, synthetic_root)), "train")
    assert len(damaged) == len(intact) - 1


def _damage_first_train_image(data_root, how):
    name = coco_json(data_root)["images"][0]["file_name"]
    path = data_root / "images" / "train2017" / name
    if how == "corrupt":
        path.write_bytes(b"this is not an image" * 10)
    else:  # truncated: the JPEG header survives, the data does not
        path.write_bytes(path.read_bytes()[:64])
    return path


@pytest.mark.parametrize("how", ["corrupt", "truncated"])
@pytest.mark.parametrize("workers", [0, 1])
def test_undecodable_image_is_an_error_by_default(how, workers, train_tool, data_copy, tmp_path, capsys):
    bad = _damage_first_train_image(data_copy, how)
    rc = _train(train_tool, data_copy, tmp_path, f"data.num_workers={workers}")
    assert rc == 1
    # One line even when the DataLoader worker re-raises the error with its traceback.
    assert error_line(capsys) == f"error: {bad}: missing or not a decodable image"
    assert not (tmp_path / "w" / "last.pth").exists()
