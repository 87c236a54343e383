"""Layers: dynamic convolution, the conv factory, temperature helpers."""

from .depthwise import DepthwiseConv2d, depthwise_conv2d
from .dynamic_conv import (ATTENTION_KINDS, IMPLEMENTATIONS, INSPECTION_MODES, AttentionKind, DynamicConv2d,
                           KernelAttention, dynamic_layers, get_temperature, linear_temperature,
                           named_dynamic_layers, set_inspection_mode, set_temperature, to_channels_last)
from .factory import create_conv2d

__all__ = ["ATTENTION_KINDS", "AttentionKind", "DepthwiseConv2d", "DynamicConv2d", "KernelAttention", "IMPLEMENTATIONS",
           "INSPECTION_MODES", "create_conv2d", "depthwise_conv2d", "dynamic_layers", "get_temperature", "linear_temperature",
           "named_dynamic_layers", "set_inspection_mode", "set_temperature", "to_channels_last"]
