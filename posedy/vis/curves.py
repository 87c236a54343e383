"""Training curves from a run's ``metrics.jsonl``: loss, validation AP, learning rate, tau."""

from pathlib import Path

import cv2
import numpy as np

from posedy.engine.logging import read_metrics
from posedy.vis.draw import line_chart, put_title


def training_curves(metrics_path, *, title: str = "", panel_size=(480, 300)) -> np.ndarray:
    """A 2x2 picture of one run: loss (per logged iteration and per epoch, log scale), validation
    AP (and AP .5), learning rate and tau, each against the epoch (fractional for iterations).

    Args:
        metrics_path: the run's ``metrics.jsonl`` (``posedy.engine.logging``); repeated steps
            after a resume count once (``read_metrics``).
    Returns:
        (2 * h + title band, 2 * w, 3) uint8 BGR image.
    """
    train = read_metrics(metrics_path, "train")
    epochs = read_metrics(metrics_path, "epoch")
    vals = read_metrics(metrics_path, "val")
    # Iteration records carry the epoch (from 1) and the iteration in it; place them on the
    # epoch axis: iteration i of epoch e ends at e - 1 + i / iterations per epoch.
    per_epoch = {}
    for r in train:
        per_epoch[r["epoch"]] = max(per_epoch.get(r["epoch"], 0), r.get("iter", 0))
    iters = {}
    if epochs and len(epochs) > 1:
        steps = [e["step"] for e in epochs]
        iters = {e["epoch"]: s - p for e, s, p in zip(epochs[1:], steps[1:], steps[:-1])}
        iters[epochs[0]["epoch"]] = steps[0]

    def at(r):
        n = iters.get(r["epoch"]) or per_epoch.get(r["epoch"]) or 1
        return r["epoch"] - 1 + r.get("iter", n) / n

    w, h = panel_size
    loss = line_chart({"iteration": ([at(r) for r in train], [r.get("loss") for r in train]),
                       "epoch mean": ([e["epoch"] for e in epochs], [e.get("loss") for e in epochs])},
                      title="training loss", size=(w, h), xlabel="epoch", log_y=True)
    ap = line_chart({"AP": ([v["epoch"] for v in vals], [v.get("AP") for v in vals]),
                     "AP .5": ([v["epoch"] for v in vals], [v.get("AP .5") for v in vals])},
                    title="validation AP", size=(w, h), xlabel="epoch")
    lr = line_chart({"lr": ([e["epoch"] for e in epochs], [e.get("lr") for e in epochs])},
                    title="learning rate", size=(w, h), xlabel="epoch", log_y=True)
    tau_points = [(at(r), r.get("tau")) for r in train if r.get("tau") is not None]
    if not tau_points:  # constant schedule: the epoch records hold it
        tau_points = [(e["epoch"], e.get("tau")) for e in epochs]
    tau = line_chart({"tau": ([p[0] for p in tau_points], [p[1] for p in tau_points])},
                     title="temperature tau (dynamic layers)", size=(w, h), xlabel="epoch",
                     empty_text="no dynamic layers (static model)")
    grid = np.concatenate([np.concatenate([loss, ap], axis=1), np.concatenate([lr, tau], axis=1)], axis=0)
    if title:
        band = np.full((26, grid.shape[1], 3), 255, dtype=np.uint8)
        grid = np.concatenate([put_title(band, title), grid], axis=0)
    return grid


def write_training_curves(work_dir, out=None) -> Path:
    """``training_curves`` of ``work_dir/metrics.jsonl`` written to ``out`` (default
    ``work_dir/curves.png``); returns the path."""
    work_dir = Path(work_dir)
    out = Path(out) if out is not None else work_dir / "curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), training_curves(work_dir / "metrics.jsonl", title=work_dir.name)):
        raise OSError(f"{out}: could not write the picture")
    return out
