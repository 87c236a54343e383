import contextlib
import filecmp
import io
import json

import numpy as np
from pycocotools.coco import COCO

from posedy.data.keypoints import COCO_KEYPOINT_NAMES
from posedy.data.synthetic import SyntheticSpec, make_synthetic_coco, sample_pose
from tool_modules import load_tool


def _quiet_coco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_layout_and_pycocotools(synthetic_root):
    ann = synthetic_root / "annotations" / "person_keypoints_val2017.json"
    coco = _quiet_coco(ann)
    assert len(coco.getImgIds()) == 3  # conftest's TINY spec
    cat = coco.loadCats(1)[0]
    assert tuple(cat["keypoints"]) == COCO_KEYPOINT_NAMES and len(cat["skeleton"]) == 19
    det = synthetic_root / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json"
    with contextlib.redirect_stdout(io.StringIO()):
        res = coco.loadRes(str(det))
    assert len(res.getAnnIds()) > 0
    for img in coco.loadImgs(coco.getImgIds()):
        assert (synthetic_root / "images" / "val2017" / img["file_name"]).is_file()
        assert (img["width"], img["height"]) == (320, 240)
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns
    for a in anns:
        kps = np.array(a["keypoints"]).reshape(17, 3)
        assert set(np.unique(kps[:, 2])) <= {0, 1, 2}
        assert (kps[kps[:, 2] == 0, :2] == 0).all()
        assert a["num_keypoints"] == int((kps[:, 2] > 0).sum())
        x, y, w, h = a["bbox"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 320 and y + h <= 240
        assert a["area"] > 0 and a["iscrowd"] == 0


def test_deterministic_and_seeded(tmp_path):
    spec = SyntheticSpec(train_images=2, val_images=1)
    make_synthetic_coco(tmp_path / "a", seed=1, spec=spec)
    make_synthetic_coco(tmp_path / "b", seed=1, spec=spec)
    make_synthetic_coco(tmp_path / "c", seed=2, spec=spec)
    for rel in ("annotations/person_keypoints_train2017.json", "annotations/person_keypoints_val2017.json",
                "person_detection_results/COCO_val2017_detections_AP_H_56_person.json",
                "images/train2017/000000000001.jpg", "images/val2017/000001000001.jpg"):
        assert filecmp.cmp(tmp_path / "a" / rel, tmp_path / "b" / rel, shallow=False), rel
    assert not filecmp.cmp(tmp_path / "a/images/train2017/000000000001.jpg",
                           tmp_path / "c/images/train2017/000000000001.jpg", shallow=False)
    # Image i does not depend on how many images were generated.
    make_synthetic_coco(tmp_path / "d", seed=1, spec=SyntheticSpec(train_images=1, val_images=0))
    assert filecmp.cmp(tmp_path / "a/images/train2017/000000000001.jpg",
                       tmp_path / "d/images/train2017/000000000001.jpg", shallow=False)
    a = json.loads((tmp_path / "a/annotations/person_keypoints_train2017.json").read_text())
    assert [img["id"] for img in a["images"]] == [1, 2]


def test_pose_faces_camera_or_away():
    rng = np.random.default_rng(0)
    for back in (False, True):
        kps = sample_pose(rng, 200.0, (100.0, 100.0), back)
        # Facing the camera the person's left shoulder and hip are on the image's right.
        assert (kps[5, 0] > kps[6, 0]) != back and (kps[11, 0] > kps[12, 0]) != back
        # Head above shoulders above hips above ankles.
        assert kps[0, 1] < kps[5, 1] < kps[11, 1] < kps[15, 1]
        # Upper arm length within the drawn proportions (0.17 h, foreshortened to >= 70 %).
        arm = np.linalg.norm(kps[7] - kps[5])
        assert 0.7 * 0.17 * 200 - 1e-6 <= arm <= 0.17 * 200 + 1e-6


def test_stamp_detects_a_change_of_seed_spec_or_generator_code(tmp_path, monkeypatch):
    from posedy.data import synthetic
    spec = SyntheticSpec(train_images=1, val_images=1)
    assert not synthetic.stamp_is_current(tmp_path, 0, spec)      # nothing there yet
    make_synthetic_coco(tmp_path, 0, spec)
    assert synthetic.stamp_is_current(tmp_path, 0, spec)
    assert not synthetic.stamp_is_current(tmp_path, 1, spec)      # another seed
    assert not synthetic.stamp_is_current(tmp_path, 0, SyntheticSpec(train_images=2, val_images=1))
    # The generator's code changed (as after an edit of posedy/data/synthetic.py).
    changed = tmp_path / "synthetic_edited.py"
    changed.write_bytes(open(synthetic.__file__, "rb").read() + b"\n# edited\n")
    monkeypatch.setattr(synthetic, "__file__", str(changed))
    assert not synthetic.stamp_is_current(tmp_path, 0, spec)


def test_make_synthetic_tool_if_stale_regenerates_only_a_stale_copy(tmp_path, capsys):
    from posedy.data.synthetic import STAMP_NAME
    tool = load_tool("make_synthetic_coco")
    args = ["--out", str(tmp_path), "--train-images", "1", "--val-images", "1", "--if-stale"]
    assert tool.main(args) == 0 and "wrote" in capsys.readouterr().out
    assert tool.main(args) == 0 and "up to date" in capsys.readouterr().out
    (tmp_path / STAMP_NAME).write_text('{"seed": 0, "spec": {}, "code_sha256": "old"}')
    assert tool.main(args) == 0 and "wrote" in capsys.readouterr().out


def test_joint_names_and_stream_codes_are_written_down_once():
    from posedy.data import synthetic
    named = {value: name for name, value in vars(synthetic._J).items() if name.isupper()}
    assert sorted(named) == list(range(len(COCO_KEYPOINT_NAMES)))
    assert all(COCO_KEYPOINT_NAMES[i].replace("left_", "L_").replace("right_", "R_").upper() == named[i]
               for i in named)
    # Every random stream's code is in the one table, and no two streams share one.
    assert len(set(synthetic._SPLIT_CODES.values())) == len(synthetic._SPLIT_CODES) == 3
