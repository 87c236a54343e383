"""Round two of bad inputs: strict YAML/JSON (duplicate keys, aliases, nesting), non-finite and
out-of-range config values, wrong types and duplicates in annotation/detection/results JSON,
image paths outside the image folder, over-sized images, bad command-line values.

Each is refused before any training step or output, with one 'error:' line and no traceback.
"""

import json
import math

import pytest
import torch
from reliability_helpers import (DET_FILE, TRAIN_ANN, VAL_ANN, coco_json, error_line, load_tool, write_experiment,
                                 write_json)


def _train(train_tool, cfg, tmp_path, *opts):
    return train_tool.main([str(cfg), "--work-dir", str(tmp_path / "w"), "--opts", *opts])


# ------------------------------------------------------------------------------ YAML
YAML_CASES = {
    "duplicate_key": ("extra: {epochs: 1, epochs: 2}\n", "key 'epochs' is given twice in one mapping (lines 1 and 1)"),
    "duplicate_section": ("train: {epochs: 1}\ntrain: {epochs: 2}\n",
                          "key 'train' is given twice in one mapping (lines 1 and 2)"),
    "alias_bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
        "more than 64 YAML aliases (line 9); write the values out"),
    "deep_nesting": ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested more than 64 levels deep"),
}


@pytest.mark.parametrize("case", list(YAML_CASES))
def test_strict_yaml(case, train_tool, experiment, tmp_path, capsys):
    text, problem = YAML_CASES[case]
    # The problem text goes first, so the duplicate key is found before the config's own keys.
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text + experiment.read_text() if case.startswith("duplicate") else text)
    rc = _train(train_tool, cfg, tmp_path)
    assert rc == 2
    assert error_line(capsys) == f"error: {cfg}: {problem}"
    assert not (tmp_path / "w").exists()


def test_duplicate_key_inside_a_section(train_tool, synthetic_root, tmp_path, capsys):
    cfg = write_experiment(tmp_path, synthetic_root)
    cfg.write_text(cfg.read_text().replace("  sigma: 1.0\n", "  sigma: 1.0\n  sigma: 3.0\n"))
    rc = _train(train_tool, cfg, tmp_path)
    assert rc == 2
    assert error_line(capsys).startswith(f"error: {cfg}: key 'sigma' is given twice in one mapping (lines ")


CONFIG_CASES = {
    "lr_nan": ("train.lr=.nan", "train.lr: must be a finite number, got nan"),
    "box_padding_inf": ("data.box_padding=.inf", "data.box_padding: must be a finite number, got inf"),
    "sigma_nan": ("data.sigma=.nan", "data.sigma: must be a finite number, got nan"),
    "seed_negative": ("train.seed=-1", "train.seed: must be >= 0, got -1"),
    "lr_steps_not_numbers": ("train.lr_steps=[a,3]",
                             "train.lr_steps: must be epoch numbers (integers >= 0), got ['a', 3]"),
    "num_kernels_huge": ("model.backbone.num_kernels=1000000", "model.backbone.num_kernels: must be <= 64, got 1000000"),
    "image_size_huge": ("data.image_size=[65536,65536]",
                        "data.image_size: sides must be <= 4096, got [65536, 65536]"),
    "batch_size_huge": ("train.batch_size=100000000", "train.batch_size: must be <= 65536, got 100000000"),
    "int_out_of_range": ("train.epochs=" + str(10**30), f"train.epochs: {10**30} is out of range (|value| <= {2**53})"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_value_out_of_range(case, train_tool, experiment, tmp_path, capsys):
    override, problem = CONFIG_CASES[case]
    rc = _train(train_tool, experiment, tmp_path, override)
    assert rc == 2
    assert error_line(capsys) == f"error: {experiment}: {problem}"


def test_batch_larger_than_the_dataset(train_tool, experiment, tmp_path, capsys):
    rc = _train(train_tool, experiment, tmp_path, "train.batch_size=500")
    assert rc == 2
    line = error_line(capsys)
    assert line.startswith("error: train.batch_size: 500 images per step (all processes together) is more than the ")
    assert line.endswith(" training samples; an epoch would have no batch")
    assert not (tmp_path / "w" / "last.pth").exists()


# ------------------------------------------------------------------------------ annotation JSON
def _mutated(data_root, mutate, ann=TRAIN_ANN):
    data = coco_json(data_root, "train2017" if ann == TRAIN_ANN else "val2017")
    mutate(data)
    write_json(data_root / ann, data)
    return data_root / ann


def _first_id(data, key="images"):
    return data[key][0]["id"]


ANNOTATION_CASES = {
    "duplicate_image_id": (lambda d: d["images"].append(dict(d["images"][0])),
                           lambda d: f"image id {_first_id(d)} is listed twice in 'images'"),
    "duplicate_annotation_id": (lambda d: d["annotations"].append(dict(d["annotations"][0])),
                                lambda d: f"annotation id {_first_id(d, 'annotations')} is used twice"),
    "nan_width": (lambda d: d["images"][0].update(width=math.nan),
                  lambda d: f"image id {_first_id(d)} has invalid size nan"
                            f"x{d['images'][0]['height']!r}"),
    "fractional_height": (lambda d: d["images"][0].update(height=1.5),
                          lambda d: f"image id {_first_id(d)} has invalid size {d['images'][0]['width']!r}x1.5"),
    "image_id_list": (lambda d: d["annotations"][0].update(image_id=[1]),
                      lambda d: f"annotation id {_first_id(d, 'annotations')!r} has image_id [1], expected an integer"),
    "file_name_number": (lambda d: d["images"][0].update(file_name=7),
                         lambda d: f"image id {_first_id(d)} has file_name 7, expected a string"),
    "area_string": (lambda d: d["annotations"][0].update(area="big"),
                    lambda d: f"annotation id {_first_id(d, 'annotations')} has area 'big', expected a number >= 0"),
    "missing_category_id": (lambda d: d["annotations"][0].pop("category_id"),
                            lambda d: f"annotation id {_first_id(d, 'annotations')} has no 'category_id'"),
    "json_duplicate_key": (None, lambda d: "key 'images' is given twice in one object"),
    "json_deep_nesting": (None, lambda d: "nested more than 64 levels deep"),
    "huge_image": (lambda d: d["images"][0].update(width=30000, height=30000),
                   lambda d: f"image id {_first_id(d)} is 30000x30000 pixels, over the limit of 134217728 "
                             f"(posedy.data.coco.MAX_IMAGE_PIXELS)"),
    "absolute_file_name": (lambda d: d["images"][0].update(file_name="/etc/hostname"),
                           lambda d: f"image id {_first_id(d)} has file_name '/etc/hostname', which is outside"),
    "climbing_file_name": (lambda d: d["images"][0].update(file_name="../../annotations/x.jpg"),
                           lambda d: f"image id {_first_id(d)} has file_name '../../annotations/x.jpg', which is outside"),
}


@pytest.mark.parametrize("case", list(ANNOTATION_CASES))
def test_bad_annotation_types_and_duplicates(case, train_tool, data_copy, tmp_path, capsys):
    mutate, problem = ANNOTATION_CASES[case]
    original = coco_json(data_copy)
    path = data_copy / TRAIN_ANN
    if case == "json_duplicate_key":
        text = json.dumps(original)
        path.write_text('{"images": [], ' + text[1:])
    elif case == "json_deep_nesting":
        path.write_text('{"x": ' + "[" * 5000 + "]" * 5000 + "}")
    else:
        _mutated(data_copy, mutate)
    rc = _train(train_tool, write_experiment(tmp_path, data_copy), tmp_path)
    assert rc == 1
    line = error_line(capsys)
    assert line.startswith(f"error: {path}: {problem(original)}"), line
    assert not (tmp_path / "w" / "last.pth").exists()


def test_outside_image_paths_allowed_when_asked(train_tool, data_copy, tmp_path, capsys):
    def point_outside(d):
        d["images"][0]["file_name"] = str(data_copy / "images" / "train2017" / d["images"][0]["file_name"])
    _mutated(data_copy, point_outside)
    from posedy.config import load_experiment
    from posedy.data import build_dataset

    cfg = load_experiment(write_experiment(tmp_path, data_copy), ["data.allow_outside_image_paths=true"])
    assert len(build_dataset(cfg, "train")) > 0


VAL_CASES = {
    "no_num_keypoints": (lambda d: d["annotations"][0].pop("num_keypoints"),
                         lambda d: f"annotation id {_first_id(d, 'annotations')} has no 'num_keypoints' "
                                   f"(COCO evaluation needs it)"),
    "no_area": (lambda d: d["annotations"][0].pop("area"),
                lambda d: f"annotation id {_first_id(d, 'annotations')} has no 'area' (COCO evaluation needs it)"),
    "num_keypoints_zero": (lambda d: d["annotations"][0].update(num_keypoints=0),
                           lambda d: f"annotation id {_first_id(d, 'annotations')} has num_keypoints 0 but "),
}


@pytest.mark.parametrize("case", list(VAL_CASES))
def test_val_set_missing_what_coco_evaluation_needs(case, train_tool, data_copy, tmp_path, capsys):
    """Was: a whole epoch trained, then a KeyError (or AP -1) before the checkpoint was written."""
    mutate, problem = VAL_CASES[case]
    original = coco_json(data_copy, "val2017")
    path = _mutated(data_copy, mutate, VAL_ANN)
    rc = _train(train_tool, write_experiment(tmp_path, data_copy), tmp_path)
    assert rc == 1
    assert error_line(capsys).startswith(f"error: {path}: {problem(original)}")
    assert not (tmp_path / "w" / "last.pth").exists()


# ------------------------------------------------------------------------------ detection and results JSON
def _det_entry(data_root):
    image = coco_json(data_root, "val2017")["images"][0]
    return {"image_id": image["id"], "category_id": 1, "bbox": [1.0, 1.0, 20.0, 30.0], "score": 0.9}


DET_CASES = {
    "score_string": ({"score": "0.9"}, "entry 0 has an invalid score '0.9'"),
    "image_id_list": ({"image_id": [1]}, "entry 0 has image_id [1], expected an integer"),
    "category_id_string": ({"category_id": "person"}, "entry 0 has category_id 'person', expected an integer"),
}


@pytest.mark.parametrize("case", list(DET_CASES))
def test_bad_detection_types(case, test_tool, data_copy, checkpoint, tmp_path, capsys):
    entry = {**_det_entry(data_copy), **DET_CASES[case][0]}
    det = write_json(data_copy / DET_FILE, [entry])
    cfg = write_experiment(tmp_path, data_copy)
    rc = test_tool.main([str(cfg), "--checkpoint", str(checkpoint), "--det-boxes", str(det),
                         "--work-dir", str(tmp_path / "out"), "--no-progress"])
    assert rc == 1
    assert error_line(capsys) == f"error: {det}: {DET_CASES[case][1]}"
    assert not (tmp_path / "out" / "results.json").exists()


def _result(data_root, **change):
    image = coco_json(data_root, "val2017")["images"][0]
    return {"image_id": image["id"], "category_id": 1, "keypoints": [10.0, 10.0, 1.0] * 17, "score": 0.9, **change}


RESULT_CASES = {
    "three_keypoint_values": ({"keypoints": [1.0, 2.0, 0.5]}, "entry 0 has 3 keypoint values, expected 51 (17 joints x 3)"),
    "not_person": ({"category_id": 2}, "entry 0 has category_id 2; keypoint results must be person (category_id 1)"),
    "score_string": ({"score": "high"}, "entry 0 has score 'high', expected a finite number"),
    "image_id_string": ({"image_id": "1"}, "entry 0 has image_id '1', expected an integer"),
    "keypoint_string": ({"keypoints": ["a"] * 51}, "entry 0 has non-numeric or non-finite keypoint values"),
}


@pytest.mark.parametrize("case", list(RESULT_CASES))
def test_results_that_would_score_a_silent_zero(case, test_tool, synthetic_root, tmp_path, capsys):
    results = write_json(tmp_path / "results.json", [_result(synthetic_root, **RESULT_CASES[case][0])])
    rc = test_tool.main(["--results", str(results), "--ann", str(synthetic_root / VAL_ANN)])
    assert rc == 1
    assert error_line(capsys) == f"error: {results}: {RESULT_CASES[case][1]}"


def test_ground_truth_with_wrong_num_keypoints_is_refused_when_scoring(test_tool, data_copy, tmp_path, capsys):
    """Was: AP -1 with exit 0."""
    ann = _mutated(data_copy, lambda d: [a.update(num_keypoints=0) for a in d["annotations"]], VAL_ANN)
    results = write_json(tmp_path / "results.json", [_result(data_copy)])
    rc = test_tool.main(["--results", str(results), "--ann", str(ann)])
    assert rc == 1
    assert " has num_keypoints 0 but " in error_line(capsys)


# ------------------------------------------------------------------------------ command-line values
def _argparse_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0].split(": error: ", 1)[1]


CLI_CASES = {
    "device_foo": ("test", ["--device", "foo"], "argument --device: 'foo' is not a device (use cpu, cuda or cuda:N)"),
    "visualize_box_nan": ("visualize", ["--box", "nan,0,10,10"],
                          "--box 'nan,0,10,10': expected X,Y,W,H, finite, with positive W and H"),
    "complexity_input_size_zero": ("complexity", ["--classifier", "mobilenet_v2", "--input-size", "0"],
                                   "argument --input-size: '0' is not an integer >= 1"),
    "complexity_input_size_small": ("complexity", ["--classifier", "mobilenet_v2", "--input-size", "8"],
                                    "--input-size 8: must be >= 32 (the classifiers' stride)"),
    "browse_epoch_negative": ("browse_dataset", ["--out", "x", "--epoch", "-1"],
                              "argument --epoch: '-1' is not an integer >= 0"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_bad_command_line_values(case, experiment, checkpoint, tmp_path, capsys):
    tool, args, problem = CLI_CASES[case]
    if tool == "test":
        args = [str(experiment), "--checkpoint", str(checkpoint), *args]
    elif tool == "visualize":
        args = [str(experiment), "--checkpoint", str(checkpoint), "--image", str(tmp_path / "x.jpg"),
                "--out", str(tmp_path / "v"), *args]
    elif tool == "browse_dataset":
        args = [str(experiment), *args]
    with pytest.raises(SystemExit) as exit_info:
        load_tool(tool).main(args)
    assert exit_info.value.code == 2
    assert _argparse_error(capsys) == problem


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_device_cuda_without_a_gpu(experiment, checkpoint, capsys):
    with pytest.raises(SystemExit):
        load_tool("test").main([str(experiment), "--checkpoint", str(checkpoint), "--device", "cuda"])
    assert _argparse_error(capsys) == "argument --device: 'cuda': no CUDA GPU is available on this machine (use cpu)"


def test_export_with_an_unsupported_opset(experiment, checkpoint, tmp_path, capsys):
    from torch.onnx import _constants

    with pytest.raises(SystemExit) as exit_info:
        load_tool("export_onnx").main([str(experiment), "--checkpoint", str(checkpoint),
                                       "--out", str(tmp_path / "m.onnx"), "--opset", "99"])
    assert exit_info.value.code == 2
    assert _argparse_error(capsys) == (f"--opset 99: this torch exports opsets {_constants.ONNX_MIN_OPSET} to "
                                       f"{_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET}")
    assert not (tmp_path / "m.onnx").exists()


def test_onnx_model_of_another_input_size(test_tool, experiment, checkpoint, tmp_path, capsys):
    """Was: a traceback from onnxruntime at the first batch."""
    onnx = tmp_path / "m.onnx"
    assert load_tool("export_onnx").main([str(experiment), "--checkpoint", str(checkpoint), "--out", str(onnx)]) == 0
    capsys.readouterr()
    rc = test_tool.main([str(experiment), "--onnx", str(onnx), "--gt-boxes", "--work-dir", str(tmp_path / "out"),
                         "--no-progress", "--opts", "data.image_size=[96,96]", "data.heatmap_size=[24,24]"])
    assert rc == 1
    assert error_line(capsys) == (f"error: {onnx}: takes 64x64 (w x h) crops, but the experiment's "
                                  f"data.image_size is 96x96")
    assert not (tmp_path / "out" / "results.json").exists()
