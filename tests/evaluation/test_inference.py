import numpy as np
import pytest
import torch
from torch import nn

from posedy.evaluation.inference import predict
from posedy.sample_data import coco_sample_dir


class PoolModel(nn.Module):
    """Heatmap k = 4x4 average pool of input channel 0 (exactly mirror-equivariant)."""

    def __init__(self, num_joints=3):
        super().__init__()
        self.num_joints = num_joints
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        pooled = nn.functional.avg_pool2d(x[:, :1], 4) * self.scale
        return pooled.expand(-1, self.num_joints, -1, -1)


def _loader(batch_size=2):
    items = []
    for i in range(3):
        image = torch.zeros(3, 256, 192)
        image[0, 120:124, 80 + 4 * i:84 + 4 * i] = 1.0  # heatmap peak at (20 + i, 30)
        items.append({"image": image, "center": torch.tensor([100.0 + i, 200.0]),
                      "scale": torch.tensor([96.0, 128.0]), "score": torch.tensor(0.5 + 0.1 * i),
                      "image_id": torch.tensor(7 + i), "index": torch.tensor(i)})
    return torch.utils.data.DataLoader(items, batch_size=batch_size)


def test_predict_hand_worked_and_flip_consistency():
    model = PoolModel()
    model.train()
    out = predict(model, _loader(), [(1, 2)], flip=False)
    assert model.training  # mode restored
    # zoom = 96 / 48 = 2: x = (20 + i - 24) * 2 + 100 + i, y = (30 - 32) * 2 + 200.
    expected_x = np.array([(20 + i - 24) * 2 + 100 + i for i in range(3)], dtype=np.float64)
    np.testing.assert_allclose(out["keypoints"][:, :, 0], np.repeat(expected_x[:, None], 3, 1))
    np.testing.assert_allclose(out["keypoints"][:, :, 1], 196.0)
    np.testing.assert_allclose(out["keypoints"][:, :, 2], 1.0)
    np.testing.assert_array_equal(out["image_ids"], [7, 8, 9])
    np.testing.assert_array_equal(out["index"], [0, 1, 2])
    np.testing.assert_allclose(out["box_scores"], [0.5, 0.6, 0.7])
    np.testing.assert_allclose(out["areas"], [96.0 * 128.0] * 3)
    # Pooling commutes with mirroring, so flip back without the shift changes nothing.
    flipped = predict(model, _loader(batch_size=3), [(1, 2)], flip=True, shift=False)
    np.testing.assert_allclose(flipped["keypoints"], out["keypoints"])
    # With the shift the flipped half is one pixel right: averaged peaks at x and x + 1 are
    # equal, argmax takes x, and the quarter offset moves it right.
    shifted = predict(lambda x: model(x), _loader(), [(1, 2)], flip=True, shift=True)
    np.testing.assert_allclose(shifted["keypoints"][:, :, 0], out["keypoints"][:, :, 0] + 0.5)
    np.testing.assert_allclose(shifted["keypoints"][:, :, 2], 0.5)


def test_predict_boxes_finds_a_bright_block_in_image_coordinates():
    from posedy.evaluation.inference import predict_boxes

    image = np.zeros((200, 240, 3), dtype=np.uint8)
    image[60:68, 100:108] = 255  # block centre (103.5, 63.5) in pixel-centre coordinates
    kps = predict_boxes(PoolModel(1), image, [[50.0, 20.0, 96.0, 128.0]], (192, 256), [], flip=False)
    # Crop zoom is 192 / 120 = 1.6, so one heatmap pixel is 4 / 1.6 = 2.5 image pixels.
    assert kps.shape == (1, 1, 3)
    assert abs(kps[0, 0, 0] - 103.5) <= 2.5 and abs(kps[0, 0, 1] - 63.5) <= 2.5


SAMPLE_DIR = coco_sample_dir()


@pytest.mark.usefixtures("coco_sample")
def test_oracle_heatmaps_score_ap_one_through_the_whole_pipeline(tmp_path):
    # A "model" that returns the dataset's own target heatmaps: crop geometry, decoding,
    # mapping back to the image, rescoring, NMS, the results file and COCOeval must agree.
    from posedy.config import config_from_dict
    from posedy.data import build_dataset
    from posedy.data.keypoints import COCO_FLIP_PAIRS
    from posedy.evaluation.evaluator import evaluate_predictions

    for encoding, method in (("hrnet", "quarter"), ("subpixel", "quarter"), ("subpixel", "dark")):
        cfg = config_from_dict({"model": {"backbone": {"name": "mobilenet_v2"}, "head": {"name": "deconv"}},
                                "data": {"root": str(SAMPLE_DIR), "val_ann": "test_coco.json", "val_images": ".",
                                         "num_workers": 0, "target_encoding": encoding}})
        dataset = build_dataset(cfg, "val", boxes="gt")
        loader = torch.utils.data.DataLoader(dataset, batch_size=5)
        gt = np.stack([r.keypoints for r in dataset.records])
        targets = iter([batch["target"] for batch in loader])
        preds = predict(lambda images: next(targets), loader, COCO_FLIP_PAIRS, flip=False, method=method)
        labelled = gt[..., 2] > 0
        err = np.linalg.norm(preds["keypoints"][..., :2] - gt[..., :2], axis=-1)[labelled]
        zoom = (preds["scale"][:, 0] / 48.0)[:, None].repeat(17, 1)[labelled]
        rel = err / zoom  # in heatmap pixels
        if encoding == "hrnet":  # the target peaks on the rounded pixel: within half a pixel
            assert rel.max() <= 0.5 * np.sqrt(2) + 1e-3
        elif method == "quarter":  # within a quarter heatmap pixel per axis
            assert rel.max() <= 0.25 * np.sqrt(2) + 1e-3
        else:  # near exact, except joints by the heatmap border where DARK is not applied
            assert np.median(rel) < 0.01 and rel.max() <= 0.5 * np.sqrt(2) + 1e-3  # argmax: half a pixel per axis
        metrics = evaluate_predictions(preds, dataset.coco, tmp_path / f"{encoding}_{method}.json")
        assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0
