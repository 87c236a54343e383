"""What the ``tools/*.py`` share besides the error boundary of ``posedy.errors``: the one-line
error print, a pose model built and loaded from its checkpoint, where outputs go by default,
the rule that an earlier result is never replaced silently, and counted nouns in messages.

A tool stays argparse, load the config, call the library; these are its plumbing.
"""

import sys
from pathlib import Path
from typing import Optional

OVERWRITE_FLAG = "--overwrite"


class OutputExistsError(ValueError):
    """An output of an earlier run is where a tool would write; the one-line message names the
    file and the flags that go on (``--overwrite``, ``--work-dir``)."""


def error(message: str, code: int = 1) -> int:
    """Print ``error: <message>`` on stderr and return ``code`` (the tool's exit status)."""
    print(f"error: {message}", file=sys.stderr)
    return code


def load_pose_model(model_cfg, checkpoint, device=None):
    """``build_pose_model(model_cfg)`` with the weights of ``checkpoint`` loaded (on ``device``
    when given, else on the CPU).

    Raises:
        posedy.engine.checkpoint.CheckpointError: one line naming the checkpoint (missing,
        unreadable, or not this architecture); ConfigError: a setting the model does not support.
    """
    from posedy.engine.checkpoint import load_checkpoint
    from posedy.models import build_pose_model

    model = build_pose_model(model_cfg)
    load_checkpoint(checkpoint, model)
    return model.to(device) if device is not None else model


def output_dir(work_dir: Optional[str], beside, name: str) -> Path:
    """``work_dir`` when given, else the folder ``name`` beside the file ``beside`` (the
    checkpoint or ONNX model a tool was given): ``best.pth`` in ``work_dirs/exp`` gives
    ``work_dirs/exp/<name>``."""
    return Path(work_dir) if work_dir else Path(beside).parent / name


def refuse_to_replace(folder, patterns, *, overwrite: bool) -> None:
    """Refuse to write into ``folder`` where it holds an earlier result, unless ``overwrite``.

    Args:
        folder: the output folder.
        patterns: file names (or glob patterns, e.g. ``results_*.json``) the tool writes there.
        overwrite: the tool's ``--overwrite`` flag.
    Raises:
        OutputExistsError: names the first earlier output found and the ways on.
    """
    if overwrite:
        return
    folder = Path(folder)
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if found:
            raise OutputExistsError(f"{found[0]}: already exists (an earlier run's result); pass {OVERWRITE_FLAG} "
                                    f"to replace it, or another --work-dir")


def counted(count: int, singular: str, plural: Optional[str] = None) -> str:
    """``"1 person"``, ``"3 people"``: a count with its noun in the right number
    (``plural`` defaults to ``singular + "s"``)."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"
