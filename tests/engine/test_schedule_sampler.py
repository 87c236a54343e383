"""LR drops at the right epochs, temperature schedule, the deterministic sampler."""

import pytest
import torch

from posedy.config import ConfigError, TrainConfig
from posedy.engine.distributed import EpochSampler
from posedy.engine.schedule import TemperatureSchedule, build_lr_scheduler, build_optimizer, warmup_factor


def test_lr_drops_at_epochs_170_and_200_when_stepped_after_each_epoch():
    train = TrainConfig()  # Adam 1e-3, steps (170, 200), factor 0.1
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(train, model)
    scheduler = build_lr_scheduler(train, optimizer)
    assert isinstance(optimizer, torch.optim.Adam)
    lrs = []
    for _ in range(train.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])  # the LR that trains this epoch
        optimizer.step()
        scheduler.step()
    assert lrs[0] == lrs[169] == 1e-3
    assert lrs[170] == pytest.approx(1e-4) and lrs[199] == pytest.approx(1e-4)
    assert lrs[200] == pytest.approx(1e-5) and lrs[209] == pytest.approx(1e-5)


def test_temperature_schedules():
    linear = TemperatureSchedule("linear", 30.0, 1.0, anneal_iters=100)
    assert [linear(s) for s in (0, 50, 100, 1000)] == [30.0, 15.5, 1.0, 1.0]
    constant = TemperatureSchedule("constant", 30.0, 1.0, anneal_iters=100)
    assert constant(0) == constant(10_000) == 30.0
    held = TemperatureSchedule("linear", 30.0, 1.0, anneal_iters=100, hold_iters=40)
    assert [held(s) for s in (0, 39, 40, 90, 140, 1000)] == [30.0, 30.0, 30.0, 15.5, 1.0, 1.0]
    with pytest.raises(ValueError):
        TemperatureSchedule("cosine", 30.0)


def test_linear_warmup_factor():
    assert [warmup_factor(s, 10, 0.001) for s in (0, 5, 9, 10, 500)] == [0.001, 0.5005, 0.9001, 1.0, 1.0]
    assert [warmup_factor(s, 4, 0.5) for s in (0, 1, 2, 3, 4)] == [0.5, 0.625, 0.75, 0.875, 1.0]
    assert warmup_factor(0, 0) == 1.0  # no warmup


@pytest.mark.parametrize("key, value, message", [
    ("warmup_iters", -1, "train.warmup_iters: must be >= 0, got -1"),
    ("warmup_ratio", 0.0, "train.warmup_ratio: must be in (0, 1], got 0.0"),
    ("warmup_ratio", 1.5, "train.warmup_ratio: must be in (0, 1], got 1.5"),
])
def test_warmup_settings_are_checked(key, value, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{key: value}).validate("train")
    assert str(err.value) == message


def test_sampler_order_is_a_function_of_seed_and_epoch():
    a = EpochSampler(10, 2, seed=5)
    a.set_epoch(3)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(8))[:10].tolist()
    assert list(a) == expected and len(a) == 10
    b = EpochSampler(10, 2, seed=5)
    b.set_epoch(4)
    assert list(b) != expected


def test_sampler_shards_ranks_disjointly_and_drops_the_ragged_tail():
    shards = []
    for rank in range(2):
        sampler = EpochSampler(23, 3, seed=0, rank=rank, world_size=2)
        sampler.set_epoch(1)
        assert sampler.batches_per_epoch == 3 and len(sampler) == 9
        shards.append(list(sampler))
    assert not set(shards[0]) & set(shards[1])
    order = torch.randperm(23, generator=torch.Generator().manual_seed(1)).tolist()[:18]
    assert shards[0] == order[0::2] and shards[1] == order[1::2]


def test_sampler_resumes_mid_epoch_and_caps_batches():
    full = EpochSampler(20, 4, seed=0, max_batches=3)
    full.set_epoch(2)
    everything = list(full)
    assert len(everything) == 12
    full.set_epoch(2, start_batch=2)
    assert list(full) == everything[8:] and len(full) == 4
    with pytest.raises(ValueError):
        full.set_epoch(2, start_batch=4)


def test_attention_branches_get_their_own_learning_rate():
    from posedy.layers import DynamicConv2d
    model = torch.nn.Sequential(DynamicConv2d(8, 8, 3, padding=1, num_kernels=4), torch.nn.Conv2d(8, 2, 1))
    attention = {id(p) for p in model[0].attention.parameters()}
    optimizer = build_optimizer(TrainConfig(lr=2e-3, attention_lr_mult=10.0), model)
    rest, att = optimizer.param_groups
    assert {id(p) for p in att["params"]} == attention and att["lr"] == pytest.approx(2e-2)
    assert rest["lr"] == 2e-3 and len(rest["params"]) == 4  # K kernels and bias; the static weight and bias
    assert len(build_optimizer(TrainConfig(lr=2e-3), model).param_groups) == 1
    assert len(build_optimizer(TrainConfig(attention_lr_mult=10.0), torch.nn.Conv2d(2, 2, 1)).param_groups) == 1
