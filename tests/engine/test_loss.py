"""JointsMSELoss against a per-joint loop written like HRNet's, and a hand-worked case."""

import pytest
import torch

from posedy.engine.loss import JointsMSELoss


def naive_joints_mse(output, target, weight, use_target_weight=True):
    """HRNet's formulation: per joint 0.5 * MSE over (batch, pixels), averaged over joints."""
    n, k = output.shape[:2]
    total = 0.0
    for j in range(k):
        pred = output[:, j].reshape(n, -1)
        gt = target[:, j].reshape(n, -1)
        if use_target_weight:
            pred = pred * weight[:, j]
            gt = gt * weight[:, j]
        total += 0.5 * ((pred - gt) ** 2).mean()
    return total / k


def naive_ohkm(output, target, weight, topk):
    n, k = output.shape[:2]
    per = torch.zeros(n, k, dtype=torch.float64)
    for i in range(n):
        for j in range(k):
            diff = (output[i, j] * weight[i, j, 0] - target[i, j] * weight[i, j, 0]).double()
            per[i, j] = 0.5 * (diff ** 2).mean()
    total = 0.0
    for i in range(n):
        total += sum(sorted(per[i].tolist(), reverse=True)[:topk]) / topk
    return total / n


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    output = torch.rand(3, 5, 4, 6, generator=g)
    target = torch.rand(3, 5, 4, 6, generator=g)
    weight = (torch.rand(3, 5, 1, generator=g) > 0.3).float() * torch.rand(3, 5, 1, generator=g) * 2
    return output, target, weight


@pytest.mark.parametrize("use_weight", [True, False])
def test_matches_hrnet_loop(batch, use_weight):
    output, target, weight = batch
    got = JointsMSELoss(use_target_weight=use_weight)(output, target, weight)
    want = naive_joints_mse(output, target, weight, use_weight)
    assert torch.allclose(got, want, rtol=1e-6, atol=0)


def test_hand_worked_value():
    # One sample, two joints, 1x2 heatmaps. Joint 0: diffs (1, 1), weight 2 -> 0.5*mean(4, 4)=2.
    # Joint 1: weight 0 -> 0. Mean over joints: 1.0.
    output = torch.tensor([[[[1.0, 2.0]], [[5.0, 5.0]]]])
    target = torch.tensor([[[[0.0, 1.0]], [[0.0, 0.0]]]])
    weight = torch.tensor([[[2.0], [0.0]]])
    assert JointsMSELoss()(output, target, weight).item() == pytest.approx(1.0, abs=0)
    # Without weights joint 1 counts: 0.5*25 = 12.5; joint 0 = 0.5; mean 6.5.
    assert JointsMSELoss(use_target_weight=False)(output, target, weight).item() == pytest.approx(6.5, abs=0)


@pytest.mark.parametrize("topk", [1, 3, 5])
def test_ohkm_keeps_the_hardest_joints_per_sample(batch, topk):
    output, target, weight = batch
    got = JointsMSELoss(ohkm=True, topk=topk)(output, target, weight)
    assert got.item() == pytest.approx(naive_ohkm(output, target, weight, topk), rel=1e-6)
    if topk == 5:
        # Keeping every joint is the plain loss.
        assert torch.allclose(got, JointsMSELoss()(output, target, weight), rtol=1e-6)


def test_ohkm_changes_the_gradient_to_hard_joints_only():
    output = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.zeros(1, 3, 2, 2)
    target[0, 1] = 1.0  # the only wrong joint
    JointsMSELoss(ohkm=True, topk=1)(output, target, torch.ones(1, 3, 1)).backward()
    assert output.grad[0, 1].abs().sum() > 0
    assert output.grad[0, 0].abs().sum() == 0 and output.grad[0, 2].abs().sum() == 0


def test_ohkm_topk_larger_than_joints_is_an_error(batch):
    output, target, weight = batch
    with pytest.raises(ValueError, match="topk=8 exceeds the number of joints 5"):
        JointsMSELoss(ohkm=True, topk=8)(output, target, weight)


def test_build_loss_follows_the_config():
    from posedy.config import config_from_dict
    from posedy.engine.runner import build_loss

    model = {"backbone": {"name": "mobilenet_v2"}, "head": {"name": "upsample_bneck"}}
    plain = build_loss(config_from_dict({"model": model}))
    hard = build_loss(config_from_dict({"model": model, "train": {"ohkm": True, "ohkm_topk": 4,
                                                                  "use_target_weight": False}}))
    assert (plain.ohkm, plain.use_target_weight) == (False, True)
    assert (hard.ohkm, hard.topk, hard.use_target_weight) == (True, 4, False)
