"""Backbones, pose heads, pose networks, classifiers and their complexity."""

from . import backbones, heads
from .classifier import Classifier, build_classifier
from .complexity import Complexity, count_complexity, pose_complexity
from .pose_net import PoseNet, build_backbone, build_head, build_pose_model
from .registry import BACKBONES, HEADS

__all__ = ["BACKBONES", "HEADS", "Classifier", "Complexity", "PoseNet", "backbones", "build_backbone",
           "build_classifier", "build_head", "build_pose_model", "count_complexity", "heads", "pose_complexity"]
