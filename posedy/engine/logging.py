"""Training logs: JSON lines, optional TensorBoard scalars, progress per epoch.

Progress is a tqdm bar on a terminal and plain periodic lines otherwise (a log file then reads
line by line instead of holding every carriage-return frame of a bar).

``metrics.jsonl`` gets one JSON object per line and is appended to on resume; every record
has a ``"type"`` (``"train"``, ``"epoch"``, ``"val"``, ``"resume"``, ``"start"``) and the
global ``"step"`` (iterations done). After a crash the resumed run repeats the steps since
the last checkpoint, so readers should keep the last record per (type, step).
"""

import json
import math
import sys
import time
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


def last_validation_ap(path):
    """AP of the last validation in a ``metrics.jsonl`` (``read_metrics`` order), or None when
    the file is missing or unreadable or holds no validation with an AP."""
    try:
        records = [r for r in read_metrics(path, "val") if "AP" in r]
    except (OSError, ValueError):
        return None
    return records[-1]["AP"] if records else None


def is_terminal(stream) -> bool:
    """True when ``stream`` is an interactive terminal (a bar can redraw itself in place)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def format_duration(seconds: float) -> str:
    """``3725.2 -> "1:02:05"``, ``65 -> "1:05"``: hours only when there are any."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LineProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` as plain lines, for logs that are files.

    A line is written when ``interval_s`` seconds have passed since the last one, and when the
    epoch ends: ``epoch 3/22 iter 40/120 loss=1.2e-03 lr=4.0e-03 tau=12.30 img_s=85.1 ETA epoch
    0:20 run 12:40``. The ETA counts the iterations left in this epoch plus ``later_iters``
    (the epochs still to come) at this epoch's rate.

    Args:
        total: iterations in the epoch; initial: iterations already done (a resumed epoch).
        desc: line prefix, e.g. ``"epoch 3/22"``; stream: where lines go.
        later_iters: iterations of the run after this epoch, for the run ETA.
        clock: seconds as a float (``time.monotonic``; injectable for tests).
    """

    def __init__(self, total: int, initial: int = 0, desc: str = "", stream=None, interval_s: float = 30.0,
                 later_iters: int = 0, clock=time.monotonic):
        self.total, self.n, self.desc = total, initial, desc
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s, self.later_iters, self.clock = interval_s, later_iters, clock
        self._start_n, self._start = initial, clock()
        self._last_line = self._start
        self._postfix = {}
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self._last_line >= self.interval_s and self.n < self.total:
            self._write(now)

    def set_postfix(self, refresh: bool = True, **values) -> None:
        self._postfix = values

    def line(self, now: float) -> str:
        done = self.n - self._start_n
        rate = done / max(now - self._start, 1e-9)
        parts = [f"{self.desc} iter {self.n}/{self.total}"]
        parts += [f"{k}={v}" for k, v in self._postfix.items()]
        if done > 0 and self.n < self.total:
            epoch_left = (self.total - self.n) / rate
            parts.append(f"ETA epoch {format_duration(epoch_left)} "
                         f"run {format_duration(epoch_left + self.later_iters / rate)}")
        else:
            parts.append(f"took {format_duration(now - self._start)}")
            if self.later_iters and done > 0:
                parts.append(f"ETA run {format_duration(self.later_iters / rate)}")
        return " ".join(parts)

    def _write(self, now: float) -> None:
        print(self.line(now), file=self.stream, flush=True)
        self._last_line = now

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n > self._start_n:
                self._write(self.clock())


def epoch_progress(total: int, initial: int, epoch: int, epochs: int, enabled: bool, stream=None,
                   interval_s: float = 30.0):
    """Progress of one epoch on ``stream`` (stderr): a tqdm bar on a terminal, else a
    ``LineProgress`` (a line every ``interval_s`` seconds and one at the end of the epoch);
    hidden on non-zero ranks."""
    stream = stream if stream is not None else sys.stderr
    desc = f"epoch {epoch + 1}/{epochs}"
    if enabled and not is_terminal(stream):
        return LineProgress(total, initial, desc, stream=stream, interval_s=interval_s,
                            later_iters=(epochs - epoch - 1) * total)
    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled,
                file=stream, dynamic_ncols=True, leave=True, mininterval=1.0)
