"""Checkpoints: atomic saving, safe loading with one-line errors, RNG state capture.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file that carries pickled code is refused rather than
executed. Saving goes through ``posedy.fileio.atomic_output``: a temporary file in the
destination folder, fsynced, then ``os.replace``d over the old file and the folder fsynced; a
crash at any point leaves either the previous checkpoint or the new one, never a torn file.
"""

import errno
import os
import pickle
import random
import shutil
import zipfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from posedy.fileio import atomic_output

# Shown per category when a checkpoint does not fit a model; the rest are counted.
_MAX_LISTED_KEYS = 4


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the one-line message names the file and the reason."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper, else ``model``."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def save_checkpoint(state: dict, path, *, before_replace: Optional[Callable[[Path], None]] = None) -> Path:
    """Write ``state`` to ``path`` atomically.

    Args:
        state: plain data (tensors, numbers, strings, lists, dicts) only.
        path: destination; its folder must exist.
        before_replace: called with the fully written, fsynced temporary file just before it
            replaces ``path``. A hook point for fault-injection tests and nothing else.
    Returns:
        ``path`` as a Path.
    Raises:
        OSError: the folder is not writable or the disk is full; ``path`` is untouched.
    """
    path = Path(path)
    with atomic_output(path, before_replace=before_replace) as tmp:
        with open(tmp, "wb") as handle:
            try:
                torch.save(state, handle)
            except RuntimeError as exc:
                raise _write_error(exc, path) from None
    return path


def _write_error(exc: RuntimeError, path: Path) -> OSError:
    """torch.save reports a failed write as a RuntimeError ("unexpected pos ..."); say what it was."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.errno is not None:
        return OSError(cause.errno, os.strerror(cause.errno), str(path))
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < 64 * 2**20:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return OSError(errno.EIO, f"cannot write the checkpoint ({_first_line(exc)})", str(path))


def remove_stale_temporaries(folder) -> list:
    """Delete temporary files left by a save that was killed before its rename.

    Returns the removed paths. Only names ``save_checkpoint`` creates are touched.
    """
    removed = []
    for tmp in Path(folder).glob(".*.pth.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def load_checkpoint(path, model: Optional[nn.Module] = None, optimizer=None, scheduler=None, *,
                    map_location="cpu") -> dict:
    """Load and validate a checkpoint, optionally restoring it into model/optimizer/scheduler.

    Accepts a full training checkpoint (a dict with ``"model"``) or a bare model state_dict.
    Keys of a DistributedDataParallel model (``module.`` prefix) are accepted.

    Args:
        path: the ``.pth`` file.
        model: when given, its parameters and buffers must match the checkpoint exactly
            (same keys, same shapes); they are then loaded.
        optimizer, scheduler: when given, restored from ``"optimizer"`` / ``"scheduler"``.
        map_location: passed to ``torch.load``.
    Returns:
        The checkpoint dict (a bare state_dict comes back as ``{"model": state_dict}``).
    Raises:
        CheckpointError: one line naming ``path``: missing, unreadable, truncated or corrupted,
            contains pickled code, lacks a section, or does not fit ``model`` (lists the keys).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # A damaged file also fails in the unpickler; only an intact archive that names a
        # non-allowlisted global is "pickled code".
        if zipfile.is_zipfile(path) and ("weights_only" in str(exc) or "global" in str(exc).lower()):
            raise CheckpointError(f"{path}: contains pickled objects other than tensors and plain "
                                  f"data (possibly code); refusing to load it") from None
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupted "
                              f"({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a damaged file
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupted "
                              f"({_first_line(exc)})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(ckpt).__name__}")
    if "model" not in ckpt:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            ckpt = {"model": ckpt}
        else:
            raise CheckpointError(f"{path}: has no 'model' section (keys: {', '.join(map(str, list(ckpt)[:8]))})")
    if not isinstance(ckpt["model"], dict):
        raise CheckpointError(f"{path}: 'model' is not a state_dict")
    ckpt["model"] = _strip_prefix(ckpt["model"], "module.")
    if model is not None:
        check_state_dict(path, unwrap_model(model), ckpt["model"])
        check_finite(path, ckpt["model"])
        unwrap_model(model).load_state_dict(ckpt["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if name not in ckpt:
            raise CheckpointError(f"{path}: has no '{name}' section; it cannot resume training")
        try:
            target.load_state_dict(ckpt[name])
        except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as exc:
            raise CheckpointError(f"{path}: '{name}' state does not fit ({_first_line(exc)})") from None
    return ckpt


def _first_line(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).strip()
    if not text:
        return exc.__class__.__name__
    line = text.splitlines()[0]
    # torch's reader errors run on with advice in further sentences; keep the first one.
    first = line.split(". ", 1)[0]
    return first if len(first) <= limit else first[:limit - 3] + "..."


def _strip_prefix(state: dict, prefix: str) -> dict:
    if state and all(isinstance(k, str) and k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def check_state_dict(path, model: nn.Module, state: dict) -> None:
    """Raise CheckpointError naming the keys by which ``state`` and ``model`` differ."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)]
    not_tensors = [k for k in expected if k in state and not isinstance(state[k], torch.Tensor)]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected),
                        ("shape mismatch (checkpoint vs model)", wrong), ("not tensors", not_tensors)):
        if keys:
            shown = ", ".join(keys[:_MAX_LISTED_KEYS])
            more = f" and {len(keys) - _MAX_LISTED_KEYS} more" if len(keys) > _MAX_LISTED_KEYS else ""
            parts.append(f"{len(keys)} {label}: {shown}{more}")
    if parts:
        raise CheckpointError(f"{path}: does not match the model (another architecture?); " + "; ".join(parts))


def check_finite(path, state: dict) -> None:
    """Raise CheckpointError naming the first floating tensor of ``state`` that holds NaN or inf."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: {key} holds NaN or infinite values (a diverged or damaged checkpoint)")


def capture_rng_state() -> dict:
    """Global RNG states (python, numpy, torch, CUDA) as plain data for a checkpoint."""
    algorithm, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {"algorithm": algorithm, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of ``capture_rng_state``."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    npst = state["numpy"]
    np.random.set_state((npst["algorithm"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
