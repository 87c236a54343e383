"""Training logs: JSON lines, optional TensorBoard scalars, a tqdm bar per epoch.

``metrics.jsonl`` gets one JSON object per line and is appended to on resume; every record
has a ``"type"`` (``"train"``, ``"epoch"``, ``"val"``, ``"resume"``, ``"start"``) and the
global ``"step"`` (iterations done). After a crash the resumed run repeats the steps since
the last checkpoint, so readers should keep the last record per (type, step).
"""

import json
import math
import sys
from pathlib import Path

from tqdm import tqdm


class MetricsLogger:
    """Append-only JSON-lines log plus TensorBoard scalars when ``tensorboard`` is importable.

    Args:
        work_dir: folder receiving ``metrics.jsonl`` (and ``tb/`` for TensorBoard).
        enabled: False on non-zero ranks; every method is then a no-op.
        tensorboard: try to open a SummaryWriter.
    """

    def __init__(self, work_dir, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.path = Path(work_dir) / "metrics.jsonl"
        self._file = open(self.path, "a", encoding="utf-8") if enabled else None
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                # TensorBoard is an optional extra; JSON lines are the record of truth.
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(log_dir=str(Path(work_dir) / "tb"))

    def log(self, record: dict) -> None:
        """Write one record (a flat dict with ``type`` and ``step``)."""
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean, sort_keys=False) + "\n")
        self._file.flush()
        if self._tb is not None and "step" in record:
            kind = record.get("type", "train")
            for key, value in record.items():
                if key not in ("type", "step", "epoch", "iter") and isinstance(value, (int, float)) \
                        and not isinstance(value, bool):
                    self._tb.add_scalar(f"{kind}/{key}", value, record["step"])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(path, kind: str = None) -> list:
    """Records of a ``metrics.jsonl``, the last one per (type, step), in step order."""
    latest = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if kind is not None and record.get("type") != kind:
                continue
            latest[(record.get("type"), record.get("step"))] = record
    return sorted(latest.values(), key=lambda r: (r.get("step", 0), str(r.get("type"))))


def epoch_progress(total: int, initial: int, epoch: int, epochs: int, enabled: bool):
    """A tqdm bar for one epoch (on stderr; hidden on non-zero ranks)."""
    return tqdm(total=total, initial=initial, desc=f"epoch {epoch + 1}/{epochs}", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, leave=True, mininterval=1.0)
