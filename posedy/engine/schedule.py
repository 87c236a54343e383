"""Optimizer, learning-rate schedule and softmax-temperature schedule.

The learning rate follows HRNet's MultiStepLR (Adam 1e-3, x0.1 at epochs 170 and 200) but is
stepped once at the *end* of every epoch. HRNet calls ``lr_scheduler.step()`` at the start of
each epoch, which since PyTorch 1.1 moves every drop one epoch early; here epoch ``e``
(0-based) trains with ``lr * factor ** (number of milestones <= e)``.

An optional linear warmup (``train.warmup_iters``, mmpose's schedule) scales the learning rate of
the first steps by a factor rising from ``warmup_ratio`` to 1; the trainer applies it around each
optimizer step only, so the scheduler and the checkpoints always hold the epoch's own rate.

The temperature follows the paper (Section 4.2): constant, or annealed linearly per iteration
from ``start`` to ``end`` over the first ``anneal_epochs`` epochs; optionally held at ``start``
for ``hold_epochs`` epochs before the annealing begins (0, the paper's schedule, by default).
"""

import torch

from posedy.layers import dynamic_layers, linear_temperature


def attention_param_groups(model: torch.nn.Module, lr: float, attention_lr_mult: float = 1.0) -> list:
    """Trainable parameters split into the dynamic layers' attention branches and the rest.

    Returns:
        ``[{"params": rest, "lr": lr}, {"params": attention, "lr": lr * attention_lr_mult}]``,
        the second group only when the model has attention parameters and the multiplier is
        not 1 (so a static model's optimizer, and its checkpoints, keep one group).
    """
    attention = {id(p) for m in dynamic_layers(model) for p in m.attention.parameters()}
    trainable = [(id(p), p) for p in model.parameters() if p.requires_grad]
    if attention_lr_mult == 1.0 or not attention:
        return [{"params": [p for _, p in trainable], "lr": lr}]
    return [{"params": [p for i, p in trainable if i not in attention], "lr": lr},
            {"params": [p for i, p in trainable if i in attention], "lr": lr * attention_lr_mult}]


def build_optimizer(train_cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Optimizer named by ``train.optimizer`` over the trainable parameters of ``model``; the
    attention branches of dynamic layers learn at ``train.lr * train.attention_lr_mult``."""
    params = attention_param_groups(model, train_cfg.lr, train_cfg.attention_lr_mult)
    if train_cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    if train_cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    if train_cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train_cfg.lr, momentum=train_cfg.momentum,
                               weight_decay=train_cfg.weight_decay, nesterov=False)
    raise ValueError(f"unknown optimizer {train_cfg.optimizer!r}")


def warmup_factor(step: int, warmup_iters: int, ratio: float = 0.001) -> float:
    """The learning-rate factor of optimizer step ``step`` (0-based) under a linear warmup:
    ``ratio`` at step 0, rising linearly to 1 at step ``warmup_iters``, then 1 (always 1 when
    ``warmup_iters`` is 0)."""
    if step >= warmup_iters:
        return 1.0
    return float(ratio + (1.0 - ratio) * step / warmup_iters)


def build_lr_scheduler(train_cfg, optimizer) -> torch.optim.lr_scheduler.MultiStepLR:
    """MultiStepLR over epochs; the trainer calls ``.step()`` once after each epoch."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(train_cfg.lr_steps),
                                                gamma=train_cfg.lr_factor)


class TemperatureSchedule:
    """tau as a function of the global iteration.

    Args:
        kind: ``"constant"`` (always ``start``) or ``"linear"``.
        start: tau at iteration 0 (``model.temperature``).
        end: tau once annealing is over.
        anneal_iters: iterations over which tau falls linearly (``tau_anneal_epochs`` times
            iterations per epoch).
        hold_iters: iterations at ``start`` before the annealing begins (``tau_hold_epochs``
            times iterations per epoch).
    """

    def __init__(self, kind: str, start: float, end: float = 1.0, anneal_iters: int = 0, hold_iters: int = 0):
        if kind not in ("constant", "linear"):
            raise ValueError(f"tau schedule must be 'constant' or 'linear', got {kind!r}")
        self.kind = kind
        self.start = float(start)
        self.end = float(end)
        self.anneal_iters = int(anneal_iters)
        self.hold_iters = int(hold_iters)

    def __call__(self, step: int) -> float:
        if self.kind == "constant" or step < self.hold_iters:
            return self.start
        return linear_temperature(step - self.hold_iters, self.anneal_iters, start=self.start, end=self.end)


def build_temperature_schedule(cfg, iters_per_epoch: int) -> TemperatureSchedule:
    """From ``model.temperature`` and ``train.tau_schedule/tau_end/tau_anneal_epochs/tau_hold_epochs``."""
    anneal_iters = int(round(cfg.train.tau_anneal_epochs * iters_per_epoch))
    hold_iters = int(round(cfg.train.tau_hold_epochs * iters_per_epoch))
    return TemperatureSchedule(cfg.train.tau_schedule, cfg.model.temperature, cfg.train.tau_end, anneal_iters,
                               hold_iters)
