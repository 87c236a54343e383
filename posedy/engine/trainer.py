"""The training loop: exact resume, atomic checkpoints, DDP, AMP, temperature schedule.

``Trainer`` takes built objects and explicit numbers; ``build_trainer`` (and ``run_training``,
which ``tools/train.py`` calls) are the only places that read an ExperimentConfig.

Resume is exact: a checkpoint holds the model, optimizer, LR scheduler, AMP scaler, the global
RNG states, the epoch and the number of iterations done in it. The batch order of epoch ``e``
comes from a generator seeded with ``seed + e`` and the dataset's randomness from
``(seed, epoch, index)``, so a run resumed at iteration ``i`` of epoch ``e`` skips the first
``i`` batches and then computes bit-for-bit what the uninterrupted run computed.

User-visible epoch and iteration numbers (messages, ``metrics.jsonl``, the progress bar) count
from 1; checkpoint fields count what is done (``epoch`` = epochs completed).
"""

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from posedy.cli import counted
from posedy.data.dataset import worker_init
from posedy.errors import Interrupted
from posedy.layers import get_temperature, set_temperature

from .checkpoint import (CheckpointError, capture_rng_state, load_checkpoint, remove_stale_temporaries,
                         restore_rng_state, save_checkpoint, unwrap_model)
from .distributed import (DistInfo, EpochIndexedDataset, EpochSampler, EpochTaggedSampler, all_reduce_mean, barrier,
                          broadcast_buffers, broadcast_object)
from .logging import MetricsLogger, epoch_progress
from .schedule import TemperatureSchedule, warmup_factor

CHECKPOINT_FORMAT = 1


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, out of memory); the message is one line."""


@dataclass
class TrainHooks:
    """Optional callbacks at fixed points of the loop (tests use them to inject faults).

    after_step(epoch, iteration, step): after an optimizer step and any checkpoint it triggers;
        ``epoch`` and ``iteration`` count from 1, ``step`` is the global number of steps done.
    before_checkpoint_replace(path, tmp): a checkpoint is fully written to ``tmp`` and is
        about to replace ``path``.
    """

    after_step: Optional[Callable[[int, int, int], None]] = None
    before_checkpoint_replace: Optional[Callable[[Path, Path], None]] = None


@dataclass(frozen=True)
class LoopSettings:
    """The numbers and switches of the loop (the batch layout is the sampler's).

    epochs: epochs to train in all.
    num_workers: DataLoader worker processes (0 = load in this process).
    persistent_workers: keep the loader's workers from one epoch to the next (with
        ``num_workers > 0``); the epoch then reaches them with each index
        (``EpochTaggedSampler``), so the data are the same as with fresh workers.
    val_interval: validate after every ``val_interval`` epochs and after the last one.
    checkpoint_interval_iters: also save ``last.pth`` every so many iterations (0 = only at
        epoch ends).
    log_interval: iterations between ``"train"`` records in ``metrics.jsonl``.
    warmup_iters, warmup_ratio: linear learning-rate warmup over the first steps
        (``schedule.warmup_factor``; 0 iterations: none).
    amp: float16 autocast with a GradScaler (CUDA only; ignored on other devices).
    channels_last: each batch in ``torch.channels_last`` memory format (the model's 4-D weights
        are converted by ``posedy.layers.to_channels_last`` where it is built), on any device.
    tensorboard: also write TensorBoard scalars when the package is importable.
    """

    epochs: int
    num_workers: int = 0
    persistent_workers: bool = False
    val_interval: int = 1
    checkpoint_interval_iters: int = 0
    log_interval: int = 50
    warmup_iters: int = 0
    warmup_ratio: float = 0.001
    amp: bool = False
    channels_last: bool = False
    tensorboard: bool = True


@dataclass(frozen=True)
class EpochStats:
    """What one pass of ``_train_epoch`` measured, for the epoch record."""

    seconds: float
    samples_per_s: float
    # Items whose image could not be decoded (data.skip_corrupt_images); counted from the
    # batches, so the count is right with any number of workers.
    corrupt: int


class Trainer:
    """Runs epochs of heatmap regression over a top-down dataset.

    Args:
        model: (N, 3, H, W) -> (N, K, Hh, Wh); already on ``device``.
        train_set: items are dicts with ``image`` (3, H, W), ``target`` (K, Hh, Wh) and
            ``target_weight`` (K, 1) float tensors; ``set_epoch(epoch)`` is called when present.
        loss_fn: ``(output, target, target_weight) -> scalar``.
        optimizer, lr_scheduler: the scheduler is stepped once after every epoch.
        tau_schedule: tau per global step; applied to the model's dynamic layers when ``"linear"``.
        sampler: the batch layout: per-process batch size, seed, rank, iterations per epoch
            (``runner.build_trainer`` builds it from the config); the one place they are held.
        settings: ``LoopSettings``.
        work_dir: receives ``last.pth``, ``best.pth`` and ``metrics.jsonl`` (rank 0).
        validate: ``model -> dict`` with ``"AP"``, or None; only rank 0's is used (other ranks
            may pass None) and every rank follows rank 0's choice to validate.
        device, dist: where and as which rank this process runs.
        config: plain-dict experiment config stored in checkpoints.
        hooks: see ``TrainHooks``.
    Raises:
        ValueError: ``sampler`` was built for another dataset length or another rank.
    """

    def __init__(self, model: nn.Module, train_set, loss_fn: nn.Module, optimizer, lr_scheduler,
                 tau_schedule: TemperatureSchedule, sampler: EpochSampler, settings: LoopSettings, *, work_dir,
                 validate: Optional[Callable] = None, device: torch.device = torch.device("cpu"),
                 dist: DistInfo = DistInfo(), config: Optional[dict] = None, hooks: Optional[TrainHooks] = None):
        if sampler.num_samples != len(train_set) or (sampler.rank, sampler.world_size) != (dist.rank, dist.world_size):
            raise ValueError(f"the sampler is for {sampler.num_samples} samples on rank {sampler.rank} of "
                             f"{sampler.world_size}, the run has {len(train_set)} on rank {dist.rank} of "
                             f"{dist.world_size}")
        self.model = model
        self.train_set = train_set
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.tau_schedule = tau_schedule
        self.sampler = sampler
        self.settings = settings
        self.work_dir = Path(work_dir)
        # Read from the sampler and the settings, never held twice.
        self.epochs = settings.epochs
        self.batch_size = sampler.batch_size
        self.seed = sampler.seed
        self.iters_per_epoch = sampler.batches_per_epoch
        self.persistent_workers = settings.persistent_workers and settings.num_workers > 0
        self._persistent_loader = None
        self.validate = validate
        self.device = device
        self.dist = dist
        self.amp = settings.amp and device.type == "cuda"
        self.channels_last = settings.channels_last
        self.config = config or {}
        self.hooks = hooks or TrainHooks()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.logger = MetricsLogger(self.work_dir, enabled=dist.is_main, tensorboard=settings.tensorboard)
        # Validation ends in a collective (the AP goes from rank 0 to all), so every rank must
        # agree on whether it happens even though only rank 0 holds a validator.
        self.validation_enabled = bool(broadcast_object(validate is not None, dist))
        # Progress: epochs completed, iterations completed in the current epoch.
        self.epoch = 0
        self.iter_in_epoch = 0
        self.best_ap = None
        self.best_epoch = None
        self.epoch_loss_sum = 0.0
        self.epoch_loss_count = 0
        self.last_loss = None
        # The epoch's checkpoint is saved before its validation; set until validation is done,
        # so that a run stopped during validation validates that epoch again on resume.
        self.validation_pending = False
        self.saved_progress = None

    @property
    def step(self) -> int:
        """Optimizer steps done so far."""
        return self.epoch * self.iters_per_epoch + self.iter_in_epoch

    @property
    def last_path(self) -> Path:
        return self.work_dir / "last.pth"

    @property
    def best_path(self) -> Path:
        return self.work_dir / "best.pth"

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything needed to continue exactly; plain data for ``weights_only`` loading."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.lr_scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else {},
            "epoch": self.epoch,
            "iter_in_epoch": self.iter_in_epoch,
            "step": self.step,
            "iters_per_epoch": self.iters_per_epoch,
            "batch_size": self.batch_size,
            "world_size": self.dist.world_size,
            "tau": get_temperature(unwrap_model(self.model)),
            "rng": capture_rng_state(),
            "config": self.config,
            "best_ap": self.best_ap,
            "best_epoch": self.best_epoch,
            "epoch_loss_sum": self.epoch_loss_sum,
            "epoch_loss_count": self.epoch_loss_count,
            "validation_pending": self.validation_pending,
        }

    def save(self, path: Path) -> None:
        """Atomically write the current state to ``path`` (rank 0 only)."""
        if not self.dist.is_main:
            return
        hook = self.hooks.before_checkpoint_replace
        save_checkpoint(self.state_dict(), path,
                        before_replace=(lambda tmp: hook(path, tmp)) if hook is not None else None)
        if path == self.last_path:
            self.saved_progress = (self.epoch, self.iter_in_epoch)

    def resume(self, path) -> None:
        """Restore everything from a checkpoint written by ``state_dict``.

        Raises:
            CheckpointError: unusable file, other architecture, or a mid-epoch checkpoint from
                a run with another batch layout (its skipped batches would not line up).
        """
        ckpt = load_checkpoint(path, self.model, self.optimizer, self.lr_scheduler, map_location=self.device)
        for key in ("epoch", "iter_in_epoch", "iters_per_epoch", "rng"):
            if key not in ckpt:
                raise CheckpointError(f"{path}: has no '{key}' entry; it is not a training checkpoint")
        _check_progress(path, ckpt, self.iters_per_epoch)
        layout = (ckpt["iters_per_epoch"], ckpt.get("batch_size"), ckpt.get("world_size"))
        here = (self.iters_per_epoch, self.batch_size, self.dist.world_size)
        if ckpt["iter_in_epoch"] and layout != here:
            raise CheckpointError(f"{path}: written mid-epoch with (iters/epoch, batch, processes) = "
                                  f"{layout}, this run has {here}; resume needs the same layout")
        if self.amp and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        try:
            restore_rng_state(ckpt["rng"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: its 'rng' entry is malformed ({exc.__class__.__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.epoch = int(ckpt["epoch"])
        self.iter_in_epoch = int(ckpt["iter_in_epoch"])
        self.best_ap = ckpt.get("best_ap")
        self.best_epoch = ckpt.get("best_epoch")
        self.epoch_loss_sum = float(ckpt.get("epoch_loss_sum", 0.0))
        self.epoch_loss_count = int(ckpt.get("epoch_loss_count", 0))
        self.validation_pending = bool(ckpt.get("validation_pending", False))
        self.logger.log({"type": "resume", "step": self.step, "epoch": self.epoch + 1,
                         "iter": self.iter_in_epoch, "checkpoint": str(path)})

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        """Train from the current position to ``epochs``.

        Returns:
            ``{"epochs", "step", "best_ap", "best_epoch", "last_loss"}``.
        Raises:
            TrainingError: non-finite loss (nothing is saved for that step) or CUDA out of memory.
        """
        if self.dist.is_main:
            remove_stale_temporaries(self.work_dir)
            if self.epoch >= self.epochs:
                print(f"already finished: all {self.epochs} epochs are done in {self.work_dir}; nothing to "
                      f"train (raise train.epochs to go on)", file=sys.stderr)
        self.logger.log({"type": "start", "step": self.step, "epoch": self.epoch + 1,
                         "iters_per_epoch": self.iters_per_epoch, "world_size": self.dist.world_size,
                         "batch_size": self.batch_size})
        try:
            if self.validation_pending:
                self._validate(self.epoch - 1)
                barrier(self.dist)
            while self.epoch < self.epochs:
                self._end_epoch(self._train_epoch())
        except KeyboardInterrupt:
            raise Interrupted(self._kept_message()) from None
        finally:
            self._persistent_loader = None  # its workers exit with it
            self.logger.close()
        return {"epochs": self.epoch, "step": self.step, "best_ap": self.best_ap,
                "best_epoch": self.best_epoch, "last_loss": self.last_loss}

    def _loader(self, epoch: int, start_batch: int):
        self.sampler.set_epoch(epoch, start_batch)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        if self._persistent_loader is not None:
            # Its workers live on; the sampler, read again at each iter(), carries the epoch.
            return self._persistent_loader
        # An explicit generator keeps the loader from drawing worker seeds from the global RNG
        # (items draw from (seed, epoch, index) only, so these seeds never reach the data).
        generator = torch.Generator().manual_seed(self.seed + epoch)
        loader = torch.utils.data.DataLoader(
            EpochIndexedDataset(self.train_set), batch_size=self.batch_size,
            sampler=EpochTaggedSampler(self.sampler), num_workers=self.settings.num_workers, drop_last=True,
            generator=generator, worker_init_fn=worker_init if self.settings.num_workers else None,
            pin_memory=self.device.type == "cuda", persistent_workers=self.persistent_workers)
        if self.persistent_workers:
            self._persistent_loader = loader
        return loader

    def _train_epoch(self) -> EpochStats:
        epoch, start = self.epoch, self.iter_in_epoch
        if start == 0:
            self.epoch_loss_sum, self.epoch_loss_count = 0.0, 0
        self.model.train()
        bar = epoch_progress(self.iters_per_epoch, start, epoch, self.epochs, self.dist.is_main)
        tick, seen, corrupt = time.perf_counter(), 0, 0
        log_interval, interval = self.settings.log_interval, self.settings.checkpoint_interval_iters
        try:
            for i, batch in enumerate(self._loader(epoch, start), start=start):
                loss_value, tau, lr = self._train_step(batch, epoch, i)
                if "corrupt" in batch:
                    corrupt += int(torch.as_tensor(batch["corrupt"]).sum())
                self.iter_in_epoch = i + 1
                self.last_loss = loss_value
                self.epoch_loss_sum += loss_value
                self.epoch_loss_count += 1
                seen += self.batch_size * self.dist.world_size
                speed = seen / max(time.perf_counter() - tick, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3e}", lr=f"{lr:.1e}",
                                tau="-" if tau is None else f"{tau:.2f}", img_s=f"{speed:.1f}", refresh=False)
                if log_interval and (i + 1) % log_interval == 0:
                    self.logger.log({"type": "train", "step": self.step, "epoch": epoch + 1, "iter": i + 1,
                                     "loss": loss_value, "lr": lr, "tau": tau, "samples_per_s": speed})
                if interval and (i + 1) % interval == 0 and i + 1 < self.iters_per_epoch:
                    self.save(self.last_path)
                if self.hooks.after_step is not None:
                    self.hooks.after_step(epoch + 1, i + 1, self.step)
        finally:
            bar.close()
        seconds = time.perf_counter() - tick
        return EpochStats(seconds, seen / max(seconds, 1e-9), corrupt)

    def _train_step(self, batch: dict, epoch: int, i: int):
        """One optimizer step; returns the loss, tau and the learning rate it trained with
        (the first group's, warmup included)."""
        model = unwrap_model(self.model)
        step = epoch * self.iters_per_epoch + i
        if self.tau_schedule.kind == "linear":
            tau = self.tau_schedule(step)
            set_temperature(model, tau)
        else:
            tau = get_temperature(model)
        images = batch["image"].to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        target = batch["target"].to(self.device, non_blocking=True)
        target_weight = batch["target_weight"].to(self.device, non_blocking=True)
        try:
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                output = self.model(images)
            loss = self.loss_fn(output.float(), target, target_weight)
            mean_loss = all_reduce_mean(loss, self.dist)
            loss_value = float(mean_loss)
            if not math.isfinite(loss_value):
                raise TrainingError(f"loss is {loss_value} at epoch {epoch + 1} iteration {i + 1} "
                                    f"(step {step + 1}); stopped without saving, "
                                    f"last good checkpoint: {self._last_good()}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            factor = warmup_factor(step, self.settings.warmup_iters, self.settings.warmup_ratio)
            # The warmup scales this step only: the groups (and so the scheduler and the
            # checkpoints) keep the epoch's rate, which makes resuming inside the warmup exact.
            rates = [group["lr"] for group in self.optimizer.param_groups]
            for group, rate in zip(self.optimizer.param_groups, rates):
                group["lr"] = rate * factor
            try:
                self.scaler.step(self.optimizer)
            finally:
                for group, rate in zip(self.optimizer.param_groups, rates):
                    group["lr"] = rate
            self.scaler.update()
        except torch.OutOfMemoryError:
            total = self.batch_size * self.dist.world_size
            raise TrainingError(f"CUDA out of memory at epoch {epoch + 1} iteration {i + 1} with "
                                f"train.batch_size={total} ({self.batch_size} per GPU); lower it, e.g. "
                                f"--opts train.batch_size={max(total // 2, self.dist.world_size)}") from None
        return loss_value, tau, rates[0] * factor

    def _kept_message(self) -> str:
        where = f"training stopped in epoch {self.epoch + 1}"
        if self.saved_progress is not None:
            epoch, it = self.saved_progress
            what = f"epoch {epoch} done" if it == 0 else f"epoch {epoch + 1}, iteration {it}"
            return f"{where}; kept {self.last_path} ({what}), continue with --resume"
        if self.last_path.exists():
            return f"{where}; kept {self.last_path} as it was, continue with --resume"
        return f"{where}; no checkpoint saved yet"

    def _last_good(self) -> str:
        return str(self.last_path) if self.last_path.exists() else "none yet"

    def _end_epoch(self, stats: EpochStats) -> None:
        epoch = self.epoch
        lr = self.optimizer.param_groups[0]["lr"]
        broadcast_buffers(unwrap_model(self.model), self.dist)
        self.lr_scheduler.step()
        self.epoch, self.iter_in_epoch = epoch + 1, 0
        record = {"type": "epoch", "step": self.step, "epoch": epoch + 1,
                  "loss": self.epoch_loss_sum / max(self.epoch_loss_count, 1), "lr": lr,
                  "tau": get_temperature(unwrap_model(self.model)),
                  "seconds": stats.seconds, "samples_per_s": stats.samples_per_s,
                  "corrupt_samples": stats.corrupt}
        self.logger.log(record)
        if stats.corrupt and self.dist.is_main:
            print(f"warning: epoch {epoch + 1}: {counted(stats.corrupt, 'sample')} skipped, their image could "
                  f"not be decoded (blank crop, zero target weight)", file=sys.stderr)
        due = (epoch + 1) % self.settings.val_interval == 0 or epoch + 1 == self.epochs
        if self.validation_enabled and due:
            # Saved first: validation reads another input and may fail or be interrupted.
            self.validation_pending = True
            self.save(self.last_path)
            self._validate(epoch)
        else:
            self.save(self.last_path)
        barrier(self.dist)

    def _validate(self, epoch: int) -> None:
        """Validate the weights after ``epoch`` (counting from 0), then save best.pth and last.pth."""
        improved = False
        metrics = None
        if self.dist.is_main:
            metrics = self.validate(unwrap_model(self.model))
            unwrap_model(self.model).train()
        metrics = broadcast_object(metrics, self.dist)
        ap = float(metrics["AP"])
        self.logger.log({"type": "val", "step": self.step, "epoch": epoch + 1,
                         **{k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}})
        if self.dist.is_main:
            print(f"epoch {epoch + 1}: AP {ap:.4f}", file=sys.stderr)
        if self.best_ap is None or ap > self.best_ap:
            self.best_ap, self.best_epoch, improved = ap, epoch + 1, True
        self.validation_pending = False
        # best.pth first: a crash between the two saves leaves last.pth with validation still
        # pending, so the resumed run validates again and rewrites best.pth with the same weights.
        if improved:
            self.save(self.best_path)
        self.save(self.last_path)


def _check_progress(path, ckpt: dict, iters_per_epoch: int) -> None:
    """CheckpointError unless the progress counters of ``ckpt`` are integers in range."""
    for key in ("epoch", "iter_in_epoch"):
        value = ckpt[key]
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"{path}: its '{key}' entry is {value!r}, expected an integer >= 0")
        ckpt[key] = value
    if ckpt["iter_in_epoch"] >= max(int(ckpt.get("iters_per_epoch") or 0), 1) and ckpt["iter_in_epoch"]:
        raise CheckpointError(f"{path}: its 'iter_in_epoch' {ckpt['iter_in_epoch']} is not below its "
                              f"'iters_per_epoch' {ckpt.get('iters_per_epoch')!r}")
    if not isinstance(ckpt["rng"], dict):
        raise CheckpointError(f"{path}: its 'rng' entry is a {type(ckpt['rng']).__name__}, expected a dict")


def resolve_resume(resume: Optional[str], work_dir) -> Optional[Path]:
    """``None`` -> None; ``"auto"`` -> ``work_dir/last.pth`` if it exists; else the given path.

    Raises:
        CheckpointError: an explicit path that does not exist.
    """
    if resume is None:
        return None
    if resume == "auto":
        last = Path(work_dir) / "last.pth"
        return last if last.exists() else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file" if not path.exists() else f"{path}: not a file")
    return path
