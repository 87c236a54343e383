import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from posedy.config import config_from_dict
from posedy.data import DataError, TopDownDataset, build_dataset, worker_init
from posedy.data.augment import AugmentPolicy
from posedy.data.codec import HeatmapCodec, encode_heatmaps
from posedy.data.coco import load_coco, load_person_records
from posedy.data.crop import IMAGENET_STD
from posedy.data.geometry import apply_affine, get_affine_transform
from posedy.data.keypoints import COCO_JOINT_WEIGHTS, flip_permutation, COCO_FLIP_PAIRS
from posedy.data.records import PersonRecord

NO_AUG = dict(scale_factor=0.0, rotation_prob=0.0, half_body_prob=0.0)
CODEC = HeatmapCodec((192, 256), (48, 64), 2.0)


def _records(root, split="train2017"):
    ann = root / "annotations" / f"person_keypoints_{split}.json"
    return load_person_records(load_coco(ann), root / "images" / split, (192, 256), ann_file=ann)


def _dataset(root, train=True, **kwargs):
    # The training policy with its defaults (those of data.augment), or plain crops.
    policy = AugmentPolicy(image_size=CODEC.image_size) if train else None
    return TopDownDataset(_records(root), CODEC, policy, **kwargs)


def test_item_format(synthetic_root):
    ds = _dataset(synthetic_root)
    item = ds[0]
    assert set(item) == {"image", "target", "target_weight", "center", "scale", "score", "image_id",
                         "index", "corrupt"}
    assert item["image"].shape == (3, 256, 192) and item["image"].dtype == torch.float32
    assert item["target"].shape == (17, 64, 48) and item["target"].dtype == torch.float32
    assert item["target_weight"].shape == (17, 1) and item["target_weight"].dtype == torch.float32
    assert item["center"].shape == (2,) and item["scale"].shape == (2,)
    assert isinstance(item["score"], float) and isinstance(item["image_id"], int)
    assert item["index"] == 0 and item["corrupt"] is False
    # Each weighted joint has a unit-height peak; unweighted joints have an empty map.
    peaks = item["target"].flatten(1).max(1).values
    w = item["target_weight"][:, 0]
    assert (peaks[w > 0] > 0.6).all() and (peaks[w == 0] == 0).all()
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["image"].shape == (3, 3, 256, 192) and batch["corrupt"].tolist() == [False] * 3


def test_determinism_and_epochs(synthetic_root):
    a, b = _dataset(synthetic_root, seed=5), _dataset(synthetic_root, seed=5)
    for i in (0, 3):
        x, y = a[i], b[i]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["target"], y["target"])
    a.set_epoch(1)
    assert not torch.equal(a[0]["image"], b[0]["image"])
    b.set_epoch(1)
    assert torch.equal(a[0]["image"], b[0]["image"])
    assert not torch.equal(_dataset(synthetic_root, seed=6)[0]["image"], b[0]["image"])


def test_items_do_not_depend_on_workers(synthetic_root):
    ds = _dataset(synthetic_root, seed=1)
    ds.set_epoch(2)
    one = next(iter(DataLoader(ds, batch_size=4, num_workers=0)))
    two = next(iter(DataLoader(ds, batch_size=4, num_workers=2, worker_init_fn=worker_init)))
    assert torch.equal(one["image"], two["image"]) and torch.equal(one["target"], two["target"])


def test_val_items_crop_the_record(synthetic_root):
    ds = _dataset(synthetic_root, train=False)
    rec = ds.records[1]
    item = ds[1]
    np.testing.assert_array_equal(item["center"], rec.center)
    np.testing.assert_array_equal(item["scale"], rec.scale)
    mat = get_affine_transform(rec.center, rec.scale, 0.0, (192, 256))
    expected, _ = encode_heatmaps(apply_affine(rec.keypoints[:, :2], mat), rec.keypoints[:, 2] > 0,
                                  (192, 256), (48, 64), 2.0)
    np.testing.assert_array_equal(item["target"].numpy(), expected)


def _hand_record(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), image)
    kps = np.zeros((17, 3), dtype=np.float32)
    kps[5] = [90, 50, 2]   # left shoulder on the image's right: a person facing the camera
    kps[6] = [70, 50, 2]   # right shoulder
    kps[9] = [95, 80, 1]   # left wrist, occluded but labelled
    rec = PersonRecord(image_id=1, image_path=str(path), center=np.array([80, 60], np.float32),
                       scale=np.array([96, 128], np.float32), keypoints=kps, score=1.0, area=1.0,
                       bbox=np.zeros(4, np.float32))
    return rec


def test_flip_mirrors_image_and_swaps_joints(tmp_path):
    rec = _hand_record(tmp_path)
    plain = TopDownDataset([rec], CODEC, AugmentPolicy(flip_prob=0.0, **NO_AUG))[0]
    flipped = TopDownDataset([rec], CODEC, AugmentPolicy(flip_prob=1.0, **NO_AUG))[0]
    # Image: the exact mirror up to cv2's fixed-point rounding (2 grey levels).
    diff = (flipped["image"] - plain["image"].flip(-1)).abs().max().item()
    assert diff <= 2.0 / 255.0 / min(IMAGENET_STD) + 1e-6
    # Joints: crop x -> 191 - x, left and right swapped; the person still faces the camera,
    # so the joint labelled "left shoulder" is still on the crop's right.
    zoom = 2.0  # 192 / 96
    plain_x = {j: 96 + (rec.keypoints[j, 0] - 80) * zoom for j in (5, 6, 9)}
    perm = flip_permutation(17, COCO_FLIP_PAIRS)
    expected = np.zeros((17, 2))
    vis = np.zeros(17)
    for j in (5, 6, 9):
        expected[perm[j]] = [191 - plain_x[j], 128 + (rec.keypoints[j, 1] - 60) * zoom]
        vis[perm[j]] = 1
    assert expected[5, 0] > expected[6, 0]
    want, want_w = encode_heatmaps(expected, vis, (192, 256), (48, 64), 2.0)
    np.testing.assert_allclose(flipped["target"].numpy(), want, atol=1e-6)
    np.testing.assert_array_equal(flipped["target_weight"][:, 0].numpy(), want_w)
    assert flipped["target_weight"][10, 0] == 1 and flipped["target_weight"][9, 0] == 0


def test_joint_weights(tmp_path):
    rec = _hand_record(tmp_path)
    ds = TopDownDataset([rec], CODEC, None, joint_weights=COCO_JOINT_WEIGHTS)
    np.testing.assert_allclose(ds[0]["target_weight"][[5, 6, 9], 0].numpy(), [1.0, 1.0, 1.5])


def test_corrupt_image(tmp_path):
    rec = _hand_record(tmp_path)
    with open(rec.image_path, "wb") as f:
        f.write(b"not an image")
    ds = TopDownDataset([rec], CODEC, AugmentPolicy())
    with pytest.raises(DataError, match=r"img\.png: missing or not a decodable image"):
        ds[0]
    ds = TopDownDataset([rec, rec], CODEC, AugmentPolicy(), skip_corrupt_images=True)
    item = ds[0]
    assert item["corrupt"] is True and ds.corrupt_count == 1
    assert item["target_weight"].sum() == 0 and item["target"].abs().sum() == 0
    assert item["image"].shape == (3, 256, 192)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert int(batch["corrupt"].sum()) == 2


def _cfg(root, **data):
    return config_from_dict({
        "model": {"backbone": {"name": "mobilenet_v2"}, "head": {"name": "deconv"}},
        "data": {"root": str(root), **data}, "train": {"seed": 3}})


def test_build_dataset(synthetic_root):
    cfg = _cfg(synthetic_root, use_joint_weights=True)
    train = build_dataset(cfg, "train")
    assert train.train and train.seed == 3 and len(train) == len(_records(synthetic_root))
    assert train.ann_file.endswith("person_keypoints_train2017.json")
    assert train.coco.getImgIds() == sorted(train.coco.getImgIds()) and len(train.coco.getImgIds()) == 6
    np.testing.assert_array_equal(train.joint_weights, COCO_JOINT_WEIGHTS)
    val = build_dataset(cfg, "val")
    assert not val.train and val.records[0].image_id > 1_000_000
    det = build_dataset(cfg, "val", boxes="det")
    assert all(r.score < 1.0 for r in det.records) and det[0]["image"].shape == (3, 256, 192)
    no_flip = build_dataset(_cfg(synthetic_root, augment={"flip": False}), "train")
    assert no_flip.policy.flip_prob == 0.0
    with pytest.raises(ValueError, match="split 'test' is not one of train, val"):
        build_dataset(cfg, "test")
    with pytest.raises(DataError, match="no such file"):
        build_dataset(cfg, "val", boxes="det", det_file=synthetic_root / "missing.json")


def test_val_targets_decode_back_to_ground_truth_ap(synthetic_root):
    """Crop -> target -> decode -> image coordinates scores COCO AP ~1 against the annotations."""
    import contextlib
    import io

    from pycocotools.cocoeval import COCOeval

    from posedy.data.codec import decode_heatmaps
    from posedy.data.geometry import heatmap_to_image

    ds = build_dataset(_cfg(synthetic_root), "val")
    items = [ds[i] for i in range(len(ds))]
    targets = np.stack([it["target"].numpy() for it in items])
    coords, scores = decode_heatmaps(targets, "quarter")
    kps = heatmap_to_image(coords, np.stack([it["center"] for it in items]),
                           np.stack([it["scale"] for it in items]), (48, 64))
    results = [{"image_id": it["image_id"], "category_id": 1, "score": 1.0,
                "keypoints": np.concatenate([k, s[:, None]], 1).reshape(-1).tolist()}
               for it, k, s in zip(items, kps, scores)]
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(ds.coco, ds.coco.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] > 0.95


def test_items_survive_pickling_and_threads(synthetic_root):
    # The per-thread scratch buffers must neither leak between threads nor break pickling
    # (DataLoader workers under the spawn start method pickle the dataset).
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    ds = _dataset(synthetic_root, seed=4)
    want = [ds[i] for i in range(len(ds))]
    clone = pickle.loads(pickle.dumps(ds))
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(clone.__getitem__, range(len(ds))))
    for a, b in zip(want, got):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["target"], b["target"])


def test_loader_workers_from_the_machine(monkeypatch):
    from posedy.data import loader_workers

    assert loader_workers(3) == 3 and loader_workers(0) == 0  # explicit counts are kept
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert loader_workers(-1, cpus=2) == 1  # one core trains, the other crops
    assert loader_workers(-1, cpus=1) == 0
    assert loader_workers(-1, cpus=16) == 15
    assert loader_workers(-1, cpus=128) == 16  # capped
    assert loader_workers(-1, processes_per_node=4, cpus=32) == 7
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun's ranks on this node
    assert loader_workers(-1, cpus=16) == 7


def test_policy_must_fit_the_codec_and_records(tmp_path):
    rec = _hand_record(tmp_path)
    with pytest.raises(ValueError, match=r"the policy's image_size \(96, 128\) is not the codec's \(192, 256\)"):
        TopDownDataset([rec], CODEC, AugmentPolicy(image_size=(96, 128)))
    with pytest.raises(ValueError, match="the policy is for 14 joints, the records have 17"):
        TopDownDataset([rec], CODEC, AugmentPolicy(num_joints=14))
