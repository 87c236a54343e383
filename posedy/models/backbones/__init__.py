"""Backbones; importing this package registers each one in ``posedy.models.registry.BACKBONES``."""

from . import mobilenet_v2, mobilenet_v3, resnet
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3
from .resnet import ResNet

__all__ = ["MobileNetV2", "MobileNetV3", "ResNet", "mobilenet_v2", "mobilenet_v3", "resnet"]
