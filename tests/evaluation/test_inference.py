import numpy as np
import pytest
import torch
from torch import nn

from posedy.evaluation.inference import (CheckpointError, load_checkpoint_state, load_model_weights,
                                         predict)


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


def test_checkpoint_errors_name_the_file(tmp_path):
    model = PoolModel()
    good = tmp_path / "good.pth"
    torch.save({"model": model.state_dict(), "epoch": 3}, good)
    assert set(load_checkpoint_state(good)) == {"scale"}
    load_model_weights(model, good)

    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"trunc\.pth: not a valid checkpoint"):
        load_checkpoint_state(trunc)

    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"text\.pth: not a valid checkpoint"):
        load_checkpoint_state(text)

    code = tmp_path / "code.pth"
    torch.save({"model": model.state_dict(), "hook": PoolModel}, code)
    with pytest.raises(CheckpointError, match=r"code\.pth: refused"):
        load_checkpoint_state(code)

    other = tmp_path / "other.pth"
    torch.save({"model": {"conv.weight": torch.zeros(2), "scale": torch.zeros(3)}}, other)
    with pytest.raises(CheckpointError, match=r"other\.pth: does not match the model architecture "
                                              r"\(unexpected 1 keys: conv\.weight; 1 shape mismatches"):
        load_model_weights(model, other)

    empty = tmp_path / "empty.pth"
    torch.save({"epoch": 1}, empty)
    with pytest.raises(CheckpointError, match="expected a dict with a 'model' state dict"):
        load_checkpoint_state(empty)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint_state(tmp_path / "missing.pth")
