"""ONNX export of static and dynamic pose models (TorchScript exporter, ``dynamo=False``).

A dynamic convolution normally folds the batch into conv groups, which would bake the batch
size into the graph (ONNX ``Conv`` takes a constant ``group``). For a dynamic batch the export
therefore switches every non-1x1 dynamic layer to the batch-agnostic ``"branches"`` form
(K static convolutions weighted by attention); 1x1 layers use a batched matrix product, which is
batch-agnostic already. With ``batch=1`` each layer convolves with its one aggregated kernel.
BatchNorm is folded into the convolutions first (``posedy.deploy.fuse_bn``).
"""

import contextlib
import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from posedy.fileio import atomic_output
from posedy.layers import DynamicConv2d

from .fusion import prepare_for_inference

DEFAULT_OPSET = 17


@contextlib.contextmanager
def written_atomically(path: Path):
    """Yield a temporary path beside ``path`` to write to (``posedy.fileio.atomic_output``, the
    folder created first); on success it is fsynced and renamed over ``path``, on any error
    removed, so a crash never leaves half a model over an older one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        yield tmp


def prepare_for_export(model: nn.Module, batch="dynamic") -> nn.Module:
    """A fused eval copy of ``model`` whose dynamic layers suit an export with ``batch``
    (``1`` or ``"dynamic"``); ``model`` is not modified."""
    if batch not in (1, "dynamic"):
        raise ValueError(f"batch must be 1 or 'dynamic', got {batch!r}")
    model = prepare_for_inference(copy.deepcopy(model))
    for layer in model.modules():
        if isinstance(layer, DynamicConv2d):
            layer.set_mode("attention")
            if batch == "dynamic":
                layer.set_implementation("bmm" if layer.is_pointwise else "branches")
            else:
                layer.set_implementation("auto")
    return model


def export_onnx(model: nn.Module, path, image_size_wh=(192, 256), batch="dynamic",
                opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` (image (N, 3, H, W) float32 -> heatmaps) to ``path`` as ONNX.

    Args:
        model: static or dynamic pose model; a fused copy is exported, ``model`` is unchanged.
        image_size_wh: input size (w, h).
        batch: ``1`` (fixed) or ``"dynamic"`` (a symbolic batch axis named ``batch``).
        opset: ONNX opset.
    Returns:
        The written path. Input name ``image``, output name ``heatmaps``.
    """
    path = Path(path)
    model = prepare_for_export(model, batch)
    w, h = image_size_wh
    example = torch.zeros(2 if batch == "dynamic" else 1, 3, h, w)
    dynamic_axes = {"image": {0: "batch"}, "heatmaps": {0: "batch"}} if batch == "dynamic" else None
    with written_atomically(path) as tmp:
        torchscript_export(model, example, tmp, input_names=["image"], output_names=["heatmaps"],
                           dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    return path


def torchscript_export(model: nn.Module, example: torch.Tensor, path, **options) -> None:
    """``torch.onnx.export(..., dynamo=False)`` without its warnings: the one place posedy calls it.

    The TorchScript exporter announces its own deprecation; it is the one that needs no extra
    dependency (onnxscript, which the ``torch.export``-based exporter needs) and handles these
    graphs. With batch 1 the trace keeps the single-sample branch, which is the intent.
    """
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (example,), str(path), dynamo=False, **options)
