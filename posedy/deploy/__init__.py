"""Deployment: BatchNorm folding for evaluation, ONNX export of static and dynamic models, and
onnxruntime NCHWc graphs that run dynamic models at batch 1 on CPU."""

from .fusion import can_fuse, fuse_bn, fuse_conv_bn, prepare_for_inference
from .onnx_export import OnnxExport, export_onnx, prepare_for_export
from .ort_nchwc import NchwcSession, build_nchwc_graph, export_nchwc

__all__ = ["NchwcSession", "OnnxExport", "build_nchwc_graph", "can_fuse", "export_nchwc", "export_onnx",
           "fuse_bn", "fuse_conv_bn", "prepare_for_export", "prepare_for_inference"]
