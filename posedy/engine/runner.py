"""From an ExperimentConfig to a finished training run (what ``tools/train.py`` calls).

Reads the config, sets up the process group, devices and determinism, builds model, data,
loss, optimizer and schedules, resumes when asked, and runs ``Trainer.fit``.
"""

import os
import random
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from posedy.config import ConfigError, config_to_dict
from posedy.data.dataset import loader_workers

from .checkpoint import unwrap_model
from .distributed import DistInfo, EpochSampler, cleanup_distributed, init_distributed
from .loss import JointsMSELoss
from .schedule import build_lr_scheduler, build_optimizer, build_temperature_schedule
from .trainer import Trainer, TrainHooks, check_work_dir, resolve_resume


def seed_everything(seed: int) -> None:
    """Seed the global python, numpy and torch RNGs (model initialisation draws from torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_determinism(device: torch.device, deterministic: bool) -> None:
    """Deterministic kernels on CPU always (cheap there) and on CUDA when asked."""
    if device.type == "cuda":
        if deterministic:
            # cuBLAS needs a fixed workspace to be deterministic; must be set before first use.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = not deterministic
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def build_loss(cfg) -> JointsMSELoss:
    """JointsMSELoss from ``train.use_target_weight``, ``train.ohkm`` and ``train.ohkm_topk``."""
    return JointsMSELoss(use_target_weight=cfg.train.use_target_weight, ohkm=cfg.train.ohkm,
                         topk=cfg.train.ohkm_topk)


def per_process_batch(global_batch: int, world_size: int) -> int:
    """Images per process and step for ``train.batch_size`` images per step in all.

    Raises:
        ConfigError: the global batch does not divide over the processes.
    """
    if global_batch % world_size:
        raise ConfigError(f"train.batch_size: {global_batch} images per step (all processes together) do not "
                          f"divide over {world_size} processes; use a multiple of {world_size}")
    return global_batch // world_size


def build_trainer(cfg, work_dir, *, device: torch.device, dist: DistInfo, model: nn.Module, train_set,
                  validate: Optional[Callable] = None, hooks: Optional[TrainHooks] = None) -> Trainer:
    """A Trainer for ``model`` (on CPU, unwrapped) and ``train_set`` with everything else from ``cfg``."""
    if cfg.train.sync_bn and dist.distributed:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    if cfg.train.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg.train, model)
    lr_scheduler = build_lr_scheduler(cfg.train, optimizer)
    if dist.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    batch_size = per_process_batch(cfg.train.batch_size, dist.world_size)
    sampler = EpochSampler(len(train_set), batch_size, cfg.train.seed, dist.rank, dist.world_size,
                           shuffle=True, max_batches=cfg.train.max_iters_per_epoch)
    tau_schedule = build_temperature_schedule(cfg, sampler.batches_per_epoch)
    return Trainer(
        model, train_set, build_loss(cfg).to(device), optimizer, lr_scheduler, tau_schedule,
        work_dir=work_dir, epochs=cfg.train.epochs, batch_size=batch_size, seed=cfg.train.seed,
        num_workers=loader_workers(cfg.data.num_workers),
        persistent_workers=cfg.data.persistent_workers, val_interval=cfg.train.val_interval, validate=validate,
        checkpoint_interval_iters=cfg.train.checkpoint_interval_iters, log_interval=cfg.train.log_interval,
        max_iters_per_epoch=cfg.train.max_iters_per_epoch, device=device, dist=dist, amp=cfg.train.amp,
        channels_last=cfg.train.channels_last, config=config_to_dict(cfg), hooks=hooks, sampler=sampler)


def run_training(cfg, work_dir, *, resume: Optional[str] = None, hooks: Optional[TrainHooks] = None,
                 build_model: Optional[Callable] = None, build_train_set: Optional[Callable] = None,
                 build_validate: Optional[Callable] = None) -> dict:
    """Train ``cfg`` in ``work_dir``; the process group comes from the environment (torchrun).

    Args:
        cfg: ExperimentConfig.
        work_dir: created if needed; must be writable.
        resume: None (fresh start), ``"auto"`` (``work_dir/last.pth`` when present) or a path.
        hooks: fault-injection callbacks, see ``TrainHooks``.
        build_model, build_train_set, build_validate: ``cfg -> model``, ``cfg -> dataset`` and
            ``(cfg, device, work_dir) -> validate callable``; default to posedy's builders.
    Returns:
        The summary of ``Trainer.fit`` plus ``"resumed_from"``, ``"model"`` and ``"is_main"``
        (False on ranks other than 0).
    Raises:
        OSError (unwritable work dir), CheckpointError, TrainingError, ConfigError.
    """
    if build_model is None:
        from posedy.models import build_pose_model

        def build_model(c):
            return build_pose_model(c.model)
    if build_train_set is None:
        from posedy.data import build_dataset

        def build_train_set(c):
            return build_dataset(c, "train")
    if build_validate is None:
        from .validation import build_validator as build_validate

    use_cuda = torch.cuda.is_available()
    dist = init_distributed("cuda" if use_cuda else "cpu")
    try:
        device = torch.device("cuda", dist.local_rank) if use_cuda else torch.device("cpu")
        work_dir = Path(work_dir)
        if dist.is_main:
            check_work_dir(work_dir)
        resume_path = resolve_resume(resume, work_dir)
        configure_determinism(device, cfg.train.deterministic)
        seed_everything(cfg.train.seed)
        model = build_model(cfg)
        train_set = build_train_set(cfg)
        validate = build_validate(cfg, device, work_dir) if dist.is_main else None
        trainer = build_trainer(cfg, work_dir, device=device, dist=dist, model=model, train_set=train_set,
                                validate=validate, hooks=hooks)
        if resume_path is not None:
            trainer.resume(resume_path)
            if dist.is_main:
                print(f"resuming from {resume_path}: epoch {trainer.epoch + 1}, iteration "
                      f"{trainer.iter_in_epoch + 1} (step {trainer.step})", file=sys.stderr)
        elif resume == "auto" and dist.is_main:
            print(f"no {work_dir / 'last.pth'} yet; starting from scratch", file=sys.stderr)
        summary = trainer.fit()
        summary["resumed_from"] = str(resume_path) if resume_path is not None else None
        summary["is_main"] = dist.is_main
        summary["model"] = unwrap_model(trainer.model)
        return summary
    finally:
        cleanup_distributed()
