"""Training engine: loss, checkpoints (atomic save, safe load, exact resume), the loop,
distributed helpers, schedules and logs."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .loss import JointsMSELoss
from .runner import run_training
from .trainer import LoopSettings, Trainer, TrainHooks, TrainingError

__all__ = ["CheckpointError", "JointsMSELoss", "LoopSettings", "Trainer", "TrainHooks", "TrainingError",
           "load_checkpoint", "run_training", "save_checkpoint"]
