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

from posedy.config import ConfigError, config_from_dict, config_to_dict, migrate_stored_config
from posedy.data.dataset import loader_workers
from posedy.layers import to_channels_last

from .checkpoint import CheckpointError, load_checkpoint, unwrap_model
from .distributed import DistInfo, EpochSampler, cleanup_distributed, init_distributed
from .loss import JointsMSELoss
from .schedule import build_lr_scheduler, build_optimizer, build_temperature_schedule
from .trainer import LoopSettings, Trainer, TrainHooks, resolve_resume
from .workdir import check_fresh_start, check_work_dir, missing_folders, remove_if_unused, work_dir_lock

# Keys that say how a run proceeds, not what it computes: a resume may change them freely
# (e.g. more epochs, other workers or logging). Any other difference needs --resume-config.
RESUME_FREE_KEYS = ("train.epochs", "train.val_interval", "train.log_interval", "train.checkpoint_interval_iters",
                    "data.num_workers", "data.skip_corrupt_images", "name")
RESUME_FREE_SECTIONS = ("test.",)
_MAX_LISTED_DIFFERENCES = 4


def flatten_config(tree: dict, prefix: str = "") -> dict:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}`` (lists stay values)."""
    out = {}
    for key, value in (tree or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_config(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def config_differences(current: dict, stored: dict) -> list:
    """Dotted keys whose values differ between two plain-dict configs, ignoring the resume-free ones.

    Returns:
        ``[(key, stored value, current value)]`` sorted by key (a missing key is ``None``).
    """
    a, b = flatten_config(stored), flatten_config(current)
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k), b.get(k)) for k in keys
            if a.get(k) != b.get(k) and k not in RESUME_FREE_KEYS
            and not any(k.startswith(s) for s in RESUME_FREE_SECTIONS)]


def reconcile_resume_config(cfg, path, policy: str):
    """The config a resume from ``path`` trains with.

    Args:
        cfg: the ExperimentConfig of this invocation (YAML + ``--opts``).
        path: the checkpoint; its ``config`` entry is what it was trained with (an older
            layout is migrated first, ``posedy.config.migrate_stored_config``).
        policy: ``"refuse"`` (any difference outside ``RESUME_FREE_KEYS`` is an error naming the
            keys) or ``"checkpoint"`` (the checkpoint's values win, except the resume-free keys).
    Raises:
        CheckpointError: differences under ``"refuse"``, or an unusable stored config.
    """
    stored = load_checkpoint(path).get("config")
    if not isinstance(stored, dict) or not stored:
        return cfg
    # A checkpoint of an older version stores an older layout (e.g. flat data.scale_factor).
    stored = migrate_stored_config(stored)
    diffs = config_differences(config_to_dict(cfg), stored)
    if not diffs:
        return cfg
    if policy == "refuse":
        shown = ", ".join(f"{k} {old!r} -> {new!r}" for k, old, new in diffs[:_MAX_LISTED_DIFFERENCES])
        more = f" and {len(diffs) - _MAX_LISTED_DIFFERENCES} more" if len(diffs) > _MAX_LISTED_DIFFERENCES else ""
        raise CheckpointError(f"{path}: was trained with another config ({shown}{more}); resume with the "
                              f"checkpoint's values (--resume-config checkpoint) or start a new --work-dir")
    merged = dict(flatten_config(stored))
    current = flatten_config(config_to_dict(cfg))
    for key, value in current.items():
        if key in RESUME_FREE_KEYS or any(key.startswith(s) for s in RESUME_FREE_SECTIONS):
            merged[key] = value
    tree = {}
    for key, value in merged.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return config_from_dict(tree)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its stored config is not valid here ({exc})") from None


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
    if cfg.train.channels_last:
        model = to_channels_last(model)
    optimizer = build_optimizer(cfg.train, model)
    lr_scheduler = build_lr_scheduler(cfg.train, optimizer)
    if dist.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    batch_size = per_process_batch(cfg.train.batch_size, dist.world_size)
    if len(train_set) < cfg.train.batch_size:
        raise ConfigError(f"train.batch_size: {cfg.train.batch_size} images per step (all processes together) "
                          f"is more than the {len(train_set)} training samples; an epoch would have no batch")
    sampler = EpochSampler(len(train_set), batch_size, cfg.train.seed, dist.rank, dist.world_size,
                           shuffle=True, max_batches=cfg.train.max_iters_per_epoch)
    tau_schedule = build_temperature_schedule(cfg, sampler.batches_per_epoch)
    settings = LoopSettings(epochs=cfg.train.epochs, num_workers=loader_workers(cfg.data.num_workers),
                            persistent_workers=cfg.data.persistent_workers, val_interval=cfg.train.val_interval,
                            checkpoint_interval_iters=cfg.train.checkpoint_interval_iters,
                            log_interval=cfg.train.log_interval, warmup_iters=cfg.train.warmup_iters,
                            warmup_ratio=cfg.train.warmup_ratio, amp=cfg.train.amp,
                            channels_last=cfg.train.channels_last)
    return Trainer(model, train_set, build_loss(cfg).to(device), optimizer, lr_scheduler, tau_schedule, sampler,
                   settings, work_dir=work_dir, validate=validate, device=device, dist=dist,
                   config=config_to_dict(cfg), hooks=hooks)


def run_training(cfg, work_dir, *, resume: Optional[str] = None, hooks: Optional[TrainHooks] = None,
                 build_model: Optional[Callable] = None, build_train_set: Optional[Callable] = None,
                 build_validate: Optional[Callable] = None, overwrite: bool = False,
                 resume_config: str = "refuse") -> dict:
    """Train ``cfg`` in ``work_dir``; the process group comes from the environment (torchrun).

    Args:
        cfg: ExperimentConfig.
        work_dir: created if needed; must be writable.
        resume: None (fresh start), ``"auto"`` (``work_dir/last.pth`` when present) or a path.
        hooks: fault-injection callbacks, see ``TrainHooks``.
        overwrite: a fresh run may replace the checkpoints of an earlier one (see
            ``posedy.engine.workdir``); without it such a work dir is refused.
        resume_config: ``"refuse"`` or ``"checkpoint"``, see ``reconcile_resume_config``.
        build_model, build_train_set, build_validate: ``cfg -> model``, ``cfg -> dataset`` and
            ``(cfg, device, work_dir) -> validate callable``; default to posedy's builders.
    Returns:
        The summary of ``Trainer.fit`` plus ``"resumed_from"``, ``"model"``, ``"is_main"``
        (False on ranks other than 0) and ``"already_finished"``: True when ``resume`` found a
        checkpoint with every epoch done (and validated); only the model is then built (with
        the checkpoint's weights), nothing is trained or written.
        A work dir this call created is removed again when the run fails before its first
        checkpoint and the folder holds nothing of it (``workdir.remove_if_unused``).
    Raises:
        OSError (unwritable work dir), WorkDirError (another run holds it, or a fresh run
        into a used one), CheckpointError, TrainingError, ConfigError.
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
        created = missing_folders(work_dir) if dist.is_main else []
        if dist.is_main:
            check_work_dir(work_dir)
        try:
            with work_dir_lock(work_dir, enabled=dist.is_main):
                return _run_locked(cfg, work_dir, device, dist, resume, hooks, build_model, build_train_set,
                                   build_validate, overwrite, resume_config)
        except BaseException:
            # A bad input found before any work must not leave an empty folder behind.
            remove_if_unused(created)
            raise
    finally:
        cleanup_distributed()


def finished_summary(path, epochs: int, model: nn.Module) -> Optional[dict]:
    """The summary of a training whose checkpoint ``path`` has all ``epochs`` done and
    validated (nothing left for ``Trainer.fit`` to do), else None. The weights are loaded
    into ``model`` (so a checkpoint of another architecture is refused either way).

    Returns:
        ``{"epochs", "step", "best_ap", "best_epoch", "last_loss": None, "already_finished": True}``.
    Raises:
        CheckpointError: unusable file, or weights that do not fit ``model``.
    """
    ckpt = load_checkpoint(path, model)
    epoch = ckpt.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < epochs:
        return None
    if ckpt.get("iter_in_epoch") or ckpt.get("validation_pending"):
        return None
    return {"epochs": epoch, "step": int(ckpt.get("step", 0)), "best_ap": ckpt.get("best_ap"),
            "best_epoch": ckpt.get("best_epoch"), "last_loss": None, "already_finished": True}


def _run_locked(cfg, work_dir, device, dist, resume, hooks, build_model, build_train_set, build_validate,
                overwrite, resume_config) -> dict:
    resume_path = resolve_resume(resume, work_dir)
    replaced = check_fresh_start(work_dir, overwrite=overwrite) if resume_path is None and dist.is_main else []
    if resume_path is not None:
        cfg = reconcile_resume_config(cfg, resume_path, resume_config)
    configure_determinism(device, cfg.train.deterministic)
    seed_everything(cfg.train.seed)
    model = build_model(cfg)
    if resume_path is not None:
        finished = finished_summary(resume_path, cfg.train.epochs, model)
        if finished is not None:
            if dist.is_main:
                print(f"already finished: all {cfg.train.epochs} epochs are done in {resume_path}; nothing to "
                      f"train and nothing written (raise train.epochs to go on)", file=sys.stderr)
            return {**finished, "resumed_from": str(resume_path), "is_main": dist.is_main, "model": model}
    train_set = build_train_set(cfg)
    validate = build_validate(cfg, device, work_dir) if dist.is_main else None
    trainer = build_trainer(cfg, work_dir, device=device, dist=dist, model=model, train_set=train_set,
                            validate=validate, hooks=hooks)
    # Only now that every input has been read and checked do the old run's checkpoints go.
    for path in replaced:
        path.unlink(missing_ok=True)
        print(f"--overwrite: removed {path} of the earlier training", file=sys.stderr)
    if resume_path is not None:
        trainer.resume(resume_path)
        if dist.is_main:
            print(f"resuming from {resume_path}: epoch {trainer.epoch + 1}, iteration "
                  f"{trainer.iter_in_epoch + 1} (step {trainer.step})", file=sys.stderr)
    elif resume == "auto" and dist.is_main:
        print(f"no {work_dir / 'last.pth'} yet; starting from scratch", file=sys.stderr)
    summary = trainer.fit()
    summary["already_finished"] = False
    summary["resumed_from"] = str(resume_path) if resume_path is not None else None
    summary["is_main"] = dist.is_main
    summary["model"] = unwrap_model(trainer.model)
    return summary
