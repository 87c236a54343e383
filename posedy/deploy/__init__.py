"""Deployment: BatchNorm folding for evaluation and ONNX export of static and dynamic models."""

from .fusion import can_fuse, fuse_bn, fuse_conv_bn, prepare_for_inference
from .onnx_export import export_onnx, prepare_for_export

__all__ = ["can_fuse", "export_onnx", "fuse_bn", "fuse_conv_bn", "prepare_for_export",
           "prepare_for_inference"]
