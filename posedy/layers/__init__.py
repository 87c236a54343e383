"""Layers: dynamic convolution, the conv factory, temperature helpers."""

from .dynamic_conv import (IMPLEMENTATIONS, INSPECTION_MODES, DynamicConv2d, KernelAttention, dynamic_layers,
                           get_temperature, linear_temperature, set_inspection_mode,
                           set_temperature)
from .factory import create_conv2d

__all__ = ["DynamicConv2d", "KernelAttention", "IMPLEMENTATIONS", "INSPECTION_MODES", "create_conv2d",
           "dynamic_layers", "get_temperature", "linear_temperature", "set_inspection_mode",
           "set_temperature"]
