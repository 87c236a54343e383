import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posedy.sample_data import coco_sample_dir
from posedy.vis import render
from posedy.vis.render import (GT_BOX_COLOR, compare_with_ground_truth, draw_ground_truth, draw_predictions,
                               group_results_by_image)
from tool_modules import load_tool

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = coco_sample_dir()
SAMPLE = SAMPLE_DIR / "test_coco.json"
needs_sample = pytest.mark.usefixtures("coco_sample")  # skips (fails under CI) without the sample

visualize = load_tool("visualize")


def _entry(image_id, score, x):
    kps = np.zeros((17, 3))
    kps[:, 0], kps[:, 1], kps[:, 2] = x, 10.0, 0.9
    return {"image_id": image_id, "category_id": 1, "keypoints": kps.ravel().tolist(), "score": score}


def test_group_results_by_image_sorts_by_score():
    groups = group_results_by_image([_entry(2, 0.1, 5.0), _entry(1, 0.3, 6.0), _entry(2, 0.8, 7.0)])
    assert sorted(groups) == [1, 2]
    kps, scores = groups[2]
    assert kps.shape == (2, 17, 3)
    np.testing.assert_allclose(scores, [0.8, 0.1])
    np.testing.assert_allclose(kps[:, 0, 0], [7.0, 5.0])


def test_draw_predictions_skips_low_scores_and_ground_truth_draws_boxes():
    image = np.zeros((40, 40, 3), np.uint8)
    kps = np.zeros((2, 17, 3))
    kps[0, 0] = [10, 10, 0.9]
    kps[1, 0] = [30, 30, 0.9]
    out = draw_predictions(image, kps, [0.9, 0.1], min_score=0.2)
    assert out[10, 10].max() > 0 and out[30, 30].max() == 0
    gt = draw_ground_truth(image, [{"bbox": [5, 5, 20, 20], "num_keypoints": 0}])
    assert tuple(gt[5, 15]) == GT_BOX_COLOR
    both = compare_with_ground_truth(image, kps, [0.9, 0.1], [])
    assert both.shape == (40, 84, 3)


@needs_sample
def test_visualize_results_with_ground_truth(tmp_path, capsys):
    data = json.loads(SAMPLE.read_text())
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in data["annotations"] if a["num_keypoints"] > 0]
    res_file = tmp_path / "res.json"
    res_file.write_text(json.dumps(results))
    out = tmp_path / "vis"
    assert visualize.main(["--results", str(res_file), "--ann", str(SAMPLE), "--images", str(SAMPLE_DIR),
                           "--out", str(out), "--with-gt", "--max-images", "2", "--format", "png"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["000000000785.png", "000000040083.png"]
    picture = cv2.imread(str(out / files[0]))
    assert picture.shape == (425, 640 * 2 + 4, 3)
    # The gap between the panels is black; the left panel has the ground-truth box colour.
    assert picture[:, 640:644].max() == 0
    assert np.all(picture[:, :640] == GT_BOX_COLOR, axis=2).sum() > 100
    assert "wrote 2 pictures" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--out", "o", "--results", "r.json"], "--results needs --ann and --images"),
    (["--out", "o"], "give --results/--ann/--images (mode a)"),
    (["x.yaml", "--checkpoint", "c", "--image", "i.jpg", "--box", "1,2,3", "--out", "o"], "expected X,Y,W,H"),
    (["x.yaml", "--checkpoint", "c", "--image", "i.jpg", "--box", "1,2,3,4", "--det-boxes", "d", "--out", "o"],
     "not allowed with argument"),
])
def test_visualize_cli_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        visualize.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@needs_sample
def test_visualize_missing_image_is_one_line(tmp_path, capsys):
    res_file = tmp_path / "res.json"
    res_file.write_text(json.dumps([_entry(785, 0.9, 5.0)]))
    assert visualize.main(["--results", str(res_file), "--ann", str(SAMPLE), "--images", str(tmp_path),
                           "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "000000000785.jpg: missing or not a decodable image" in err


def test_pose_boxes_cover_the_shown_joints():
    from posedy.vis.render import pose_boxes

    kps = np.zeros((3, 17, 3))
    kps[0, :3] = [[10, 20, 0.9], [30, 60, 0.8], [500, 500, 0.1]]  # the third joint is hidden
    kps[1, 0] = [7, 8, 0.9]                                       # one joint: a zero-sized box
    boxes = pose_boxes(kps, threshold=0.3)
    np.testing.assert_allclose(boxes[0], [10, 20, 20, 40])
    np.testing.assert_allclose(boxes[1], [7, 8, 0, 0])
    assert np.isnan(boxes[2]).all()                               # nothing shown: no box
    np.testing.assert_allclose(pose_boxes(kps[:1], 0.3, padding=1.5)[0], [5, 10, 30, 60])


def test_prediction_panel_boxes_each_pose_with_its_score_and_has_the_key():
    from posedy.vis.draw import LEFT_JOINT_COLOR, RIGHT_JOINT_COLOR
    from posedy.vis.render import PRED_BOX_COLOR, draw_results

    image = np.zeros((240, 320, 3), np.uint8)
    kps = np.zeros((2, 17, 3))
    kps[0, [0, 16], :] = [[100, 60, 0.9], [200, 160, 0.9]]
    kps[1, 0] = [300, 20, 0.05]                                   # no shown joint: no box, no label
    out = draw_results(image, kps, [0.87, 0.5])
    box = np.all(out == PRED_BOX_COLOR, axis=2)
    # The box of joints (100, 60) and (200, 160), grown about its centre (150, 110).
    half = 50 * render.POSE_BOX_PADDING
    assert box[110, int(round(150 - half))] and box[110, int(round(150 + half))]
    assert box[int(round(110 - half)), 150] and box[int(round(110 + half)), 150]
    # The score label ("0.87", anti-aliased) sits above the box's left corner.
    top, x0 = int(round(110 - half)), int(round(150 - half))
    assert (out[top - 14:top - 2, x0:x0 + 40] > 0).any(axis=2).sum() > 20
    assert (out[top - 14:top - 2, x0 + 60:x0 + 100] == 0).all()
    assert not box[:, 260:].any()
    bottom_left = out[200:, :160]
    assert np.all(bottom_left == LEFT_JOINT_COLOR, axis=2).any()
    assert np.all(bottom_left == RIGHT_JOINT_COLOR, axis=2).any()
    plain = draw_predictions(image, kps, [0.87, 0.5])
    assert not np.all(plain == PRED_BOX_COLOR, axis=2).any()      # no boxes asked, none drawn
    assert (plain[200:, :160] == 0).all()                          # and no key by default


def test_checkpoint_picture_boxes_and_scores_are_drawn():
    image = np.zeros((120, 160, 3), np.uint8)
    kps = np.zeros((1, 17, 3))
    kps[0, 0] = [80, 60, 0.9]
    out = draw_predictions(image, kps, [0.75], boxes=[[20, 30, 100, 70]], legend=True)
    box = np.all(out == render.PRED_BOX_COLOR, axis=2)
    assert box[60, 20] and box[60, 120] and box[30, 70] and box[100, 70]
    assert (out[14:28, 20:60] > 0).any(axis=2).sum() > 20        # "0.75" above the box
