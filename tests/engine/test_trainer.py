"""The loop on CPU with stand-ins: exact resume, NaN and OOM handling, validation, logs."""

import pytest
import torch
from engine_standins import ExplodingModel, OOMModel, make_trainer

from posedy.engine.checkpoint import CheckpointError, load_checkpoint
from posedy.engine.logging import read_metrics
from posedy.engine.trainer import TrainHooks, TrainingError, resolve_resume

# 24 samples / batch 4 = 6 iterations per epoch.
EPOCHS = 3


class Interrupt(Exception):
    pass


def interrupt_at(step):
    def hook(epoch, iteration, done):
        if done == step:
            raise Interrupt

    return TrainHooks(after_step=hook)


def losses(work_dir):
    return {r["step"]: r["loss"] for r in read_metrics(work_dir / "metrics.jsonl", "train")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with a fake AP that first improves, then falls."""
    work = tmp_path_factory.mktemp("reference")
    aps = iter([0.2, 0.5, 0.4])
    trainer = make_trainer(work, epochs=EPOCHS, validate=lambda model: {"AP": next(aps), "AR": 0.1})
    summary = trainer.fit()
    return work, summary, {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_uninterrupted_run_logs_and_checkpoints(reference):
    work, summary, _ = reference
    assert summary["step"] == 18 and summary["epochs"] == EPOCHS
    assert summary["best_ap"] == 0.5 and summary["best_epoch"] == 2
    assert sorted(losses(work)) == list(range(1, 19))
    last = load_checkpoint(work / "last.pth")
    best = load_checkpoint(work / "best.pth")
    assert (last["epoch"], last["iter_in_epoch"], last["step"]) == (3, 0, 18)
    assert (best["epoch"], best["best_ap"]) == (2, 0.5)
    assert last["config"] == {"name": "tiny"}
    epochs = read_metrics(work / "metrics.jsonl", "epoch")
    # LR drops after the first epoch (milestone 1); the schedule steps at epoch ends.
    assert [r["lr"] for r in epochs] == pytest.approx([1e-2, 1e-3, 1e-3])
    vals = read_metrics(work / "metrics.jsonl", "val")
    assert [(r["epoch"], r["AP"]) for r in vals] == [(1, 0.2), (2, 0.5), (3, 0.4)]
    # tau annealed linearly per iteration from 30 to 1 over all 18 steps.
    taus = [r["tau"] for r in read_metrics(work / "metrics.jsonl", "train")]
    assert taus[0] == 30.0 and taus[9] == pytest.approx(30 - 29 * 9 / 18)
    assert all(a > b for a, b in zip(taus, taus[1:]))


@pytest.mark.parametrize("stop_step, interval", [(8, 0), (10, 2), (6, 4)])
def test_resume_continues_exactly(tmp_path, reference, stop_step, interval):
    """Interrupt after ``stop_step`` steps, resume from last.pth: same losses, same weights."""
    ref_work, _, ref_state = reference
    aps = iter([0.2, 0.5, 0.4])
    first = make_trainer(tmp_path, epochs=EPOCHS, checkpoint_interval_iters=interval,
                         validate=lambda model: {"AP": next(aps)}, hooks=interrupt_at(stop_step))
    with pytest.raises(Interrupt):
        first.fit()
    ckpt = load_checkpoint(tmp_path / "last.pth")
    # Epoch-end checkpoints every 6 steps (written after the step hook of an epoch's last
    # step, so stopping there loses it), iteration ones every `interval` steps in between.
    saved = max(s for s in range(0, stop_step + 1)
                if (s % 6 == 0 and s < stop_step) or (interval and s % interval == 0 and s % 6))
    assert ckpt["step"] == saved
    aps = iter([0.2, 0.5, 0.4][ckpt["epoch"]:])
    second = make_trainer(tmp_path, epochs=EPOCHS, checkpoint_interval_iters=interval,
                          validate=lambda model: {"AP": next(aps)}, seed=0)
    with torch.no_grad():  # make sure the resume really overwrites the weights
        for p in second.model.parameters():
            p.add_(1.0)
    second.resume(tmp_path / "last.pth")
    summary = second.fit()
    assert summary["best_ap"] == 0.5 and summary["best_epoch"] == 2
    assert losses(tmp_path) == losses(ref_work)
    for name, value in second.model.state_dict().items():
        assert torch.equal(value, ref_state[name]), name
    resumes = read_metrics(tmp_path / "metrics.jsonl", "resume")
    assert [r["step"] for r in resumes] == [saved]


def test_persistent_workers_resumed_mid_epoch_are_bit_identical(tmp_path, reference):
    """Two persistent workers for the whole run (the epoch travels with each index), stopped
    mid-epoch 2 and resumed: the same losses and weights as the reference run without workers."""
    ref_work, _, ref_state = reference
    aps = iter([0.2, 0.5, 0.4])
    first = make_trainer(tmp_path, epochs=EPOCHS, checkpoint_interval_iters=2, num_workers=2,
                         persistent_workers=True, validate=lambda model: {"AP": next(aps)},
                         hooks=interrupt_at(10))
    with pytest.raises(Interrupt):
        first.fit()
    assert first._persistent_loader is None  # the workers were shut down
    aps = iter([0.2, 0.5, 0.4][1:])
    second = make_trainer(tmp_path, epochs=EPOCHS, checkpoint_interval_iters=2, num_workers=2,
                          persistent_workers=True, validate=lambda model: {"AP": next(aps)})
    second.resume(tmp_path / "last.pth")
    second.fit()
    assert losses(tmp_path) == losses(ref_work)
    for name, value in second.model.state_dict().items():
        assert torch.equal(value, ref_state[name]), name


def test_epoch_travels_with_each_index():
    from engine_standins import TinyKeypointDataset

    from posedy.engine.distributed import EpochIndexedDataset, EpochSampler, EpochTaggedSampler

    sampler = EpochSampler(24, 4, seed=0)
    tagged = EpochTaggedSampler(sampler)
    sampler.set_epoch(2, start_batch=5)
    pairs = list(tagged)
    assert len(pairs) == len(tagged) == 4
    assert pairs == [(2, i) for i in sampler.epoch_indices(2)[20:].tolist()]
    data = TinyKeypointDataset()
    wrapped = EpochIndexedDataset(data)
    item = wrapped[(2, 7)]
    data.set_epoch(2)
    assert torch.equal(item["image"], data[7]["image"]) and data.epoch == 2


def test_resume_from_a_finished_run_does_nothing(tmp_path, reference, capsys):
    ref_work, _, ref_state = reference
    trainer = make_trainer(tmp_path, epochs=EPOCHS)
    trainer.resume(ref_work / "last.pth")
    assert trainer.fit()["step"] == 18
    assert f"already finished: all {EPOCHS} epochs are done in {tmp_path}" in capsys.readouterr().err
    assert torch.equal(trainer.model.head.weight, ref_state["head.weight"])


def test_mid_epoch_resume_with_another_batch_size_is_refused(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, checkpoint_interval_iters=2, hooks=interrupt_at(3))
    with pytest.raises(Interrupt):
        trainer.fit()
    other = make_trainer(tmp_path, epochs=1, batch_size=3)
    with pytest.raises(CheckpointError, match="written mid-epoch with .* resume needs the same layout"):
        other.resume(tmp_path / "last.pth")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    # 6 iterations per epoch: epoch 1 is saved, the 3rd step of epoch 2 explodes.
    trainer = make_trainer(tmp_path, epochs=3, model=ExplodingModel(bad_call=9), validate=lambda m: {"AP": 0.1})
    with pytest.raises(TrainingError) as info:
        trainer.fit()
    message = str(info.value)
    assert message.startswith("loss is nan at epoch 2 iteration 3 (step 9)")
    assert str(tmp_path / "last.pth") in message and "\n" not in message
    ckpt = load_checkpoint(tmp_path / "last.pth")
    assert ckpt["step"] == 6 and all(torch.isfinite(v).all() for v in ckpt["model"].values()
                                     if v.is_floating_point())
    assert (tmp_path / "best.pth").exists()


def test_out_of_memory_names_the_batch_size(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, batch_size=4, model=OOMModel())
    with pytest.raises(TrainingError, match=r"CUDA out of memory at epoch 1 iteration 1 with "
                                            r"train.batch_size=4 \(4 per GPU\); lower it, e.g. --opts train.batch_size=2"):
        trainer.fit()


def test_resolve_resume(tmp_path):
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None
    (tmp_path / "last.pth").write_bytes(b"")
    assert resolve_resume("auto", tmp_path) == tmp_path / "last.pth"
    with pytest.raises(CheckpointError, match=r"missing\.pth: no such checkpoint file"):
        resolve_resume(str(tmp_path / "missing.pth"), tmp_path)


def test_global_batch_is_split_over_processes():
    from posedy.config import ConfigError
    from posedy.engine.runner import per_process_batch
    assert [per_process_batch(128, w) for w in (1, 2, 4, 8)] == [128, 64, 32, 16]
    with pytest.raises(ConfigError, match=r"train.batch_size: 128 images per step .* do not divide over 3 processes"):
        per_process_batch(128, 3)


def test_the_sampler_is_the_one_batch_layout(tmp_path):
    """Batch size, seed and iterations per epoch come from the sampler alone (a capped one
    caps the loop); one built for another dataset or rank is refused instead of half used."""
    from posedy.engine.distributed import EpochSampler
    trainer = make_trainer(tmp_path, epochs=1, batch_size=4)
    assert (trainer.batch_size, trainer.seed, trainer.iters_per_epoch) == (4, 0, 6)
    args = (trainer.model, trainer.train_set, trainer.loss_fn, trainer.optimizer, trainer.lr_scheduler,
            trainer.tau_schedule)
    capped = type(trainer)(*args, EpochSampler(24, 4, 0, max_batches=2), trainer.settings, work_dir=tmp_path)
    assert capped.iters_per_epoch == 2 and capped.fit()["step"] == 2
    with pytest.raises(ValueError, match="sampler is for 23 samples on rank 0 of 1, the run has 24"):
        type(trainer)(*args, EpochSampler(23, 4, 0), trainer.settings, work_dir=tmp_path)
    with pytest.raises(ValueError, match="sampler is for 24 samples on rank 1 of 2"):
        type(trainer)(*args, EpochSampler(24, 4, 0, rank=1, world_size=2), trainer.settings, work_dir=tmp_path)


@pytest.fixture(scope="module")
def warmup_reference(tmp_path_factory):
    """An uninterrupted run whose 8-step warmup crosses the epoch-1 end and its LR drop."""
    work = tmp_path_factory.mktemp("warmup")
    trainer = make_trainer(work, epochs=EPOCHS, warmup_iters=8)
    trainer.fit()
    return work, trainer, {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_warmup_scales_the_steps_and_leaves_the_epoch_rate(warmup_reference):
    work, trainer, _ = warmup_reference
    train = read_metrics(work / "metrics.jsonl", "train")
    factors = [0.001 + 0.999 * s / 8 for s in range(8)] + [1.0] * 10
    epoch_lr = [1e-2] * 6 + [1e-3] * 12  # milestone 1: x0.1 after the first epoch
    assert [r["lr"] for r in train] == pytest.approx([f * lr for f, lr in zip(factors, epoch_lr)])
    # The scheduler, the epoch records and the checkpoints keep the epoch's own rate.
    assert [r["lr"] for r in read_metrics(work / "metrics.jsonl", "epoch")] == pytest.approx([1e-2, 1e-3, 1e-3])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert load_checkpoint(work / "last.pth")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3)


def test_resume_inside_the_warmup_is_exact(tmp_path, warmup_reference):
    ref_work, _, ref_state = warmup_reference
    first = make_trainer(tmp_path, epochs=EPOCHS, warmup_iters=8, checkpoint_interval_iters=2,
                         hooks=interrupt_at(5))
    with pytest.raises(Interrupt):
        first.fit()
    assert load_checkpoint(tmp_path / "last.pth")["step"] == 4
    second = make_trainer(tmp_path, epochs=EPOCHS, warmup_iters=8, checkpoint_interval_iters=2)
    second.resume(tmp_path / "last.pth")
    second.fit()
    assert losses(tmp_path) == losses(ref_work)
    for name, value in second.model.state_dict().items():
        assert torch.equal(value, ref_state[name]), name


def test_channels_last_trains_on_the_cpu(tmp_path, reference):
    """train.channels_last on the CPU: batches and the 4-D weights in channels_last (the dynamic
    layer's 5-D kernel bank as it was), the same losses as the contiguous run up to rounding."""
    ref_work, _, _ = reference
    aps = iter([0.2, 0.5, 0.4])
    trainer = make_trainer(tmp_path, epochs=EPOCHS, channels_last=True, validate=lambda model: {"AP": next(aps)})
    formats = []
    trainer.model.stem.register_forward_pre_hook(
        lambda module, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    trainer.fit()
    assert trainer.channels_last and formats and all(formats)
    assert trainer.model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert trainer.model.dynamic.weight.dim() == 5
    ref, got = losses(ref_work), losses(tmp_path)
    assert sorted(got) == sorted(ref)
    assert [got[s] for s in sorted(got)] == pytest.approx([ref[s] for s in sorted(ref)], rel=1e-4)
