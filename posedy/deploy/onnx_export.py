"""ONNX export of static and dynamic pose models, through torch's ``torch.export``-based exporter.

A dynamic convolution normally folds the batch into conv groups, which would bake the batch
size into the graph (ONNX ``Conv`` takes a constant ``group``: the ``torch.export``-based
exporter refuses a symbolic one, "Unsupported attribute type: SymbolicTensor" for ``Conv``'s
``group``, and the TorchScript one records the example's batch). For a dynamic batch the
export therefore switches every non-1x1 dynamic layer to the batch-agnostic ``"branches"`` form
(K static convolutions weighted by attention); 1x1 layers use a batched matrix product, which is
batch-agnostic already. With ``batch=1`` each layer convolves with its one aggregated kernel.
BatchNorm is folded into the convolutions first (``posedy.deploy.fuse_bn``).

Exporters: the ``torch.export``-based one (``torch.onnx.export(..., dynamo=True)``, which needs
the ``onnxscript`` package) is used whenever it can be; the TorchScript-based one, which torch
deprecates, only as a fallback: when onnxscript is missing, when the requested opset is below
the new exporter's own (``DYNAMO_MIN_OPSET``), or when the new exporter fails on the model.
``OnnxExport`` says which one wrote the file, and why the fallback was taken.
"""

import contextlib
import copy
import importlib.util
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from posedy.fileio import atomic_output
from posedy.layers import DynamicConv2d

from .fusion import prepare_for_inference

DEFAULT_OPSET = 18
# The operator set the torch.export-based exporter implements (onnxscript's torchlib). Below it
# that exporter converts the graph down with onnx's version converter and, where that fails,
# keeps opset 18 with only a log line; a lower opset is therefore left to the TorchScript exporter.
DYNAMO_MIN_OPSET = 18
TORCH_EXPORT, TORCHSCRIPT = "torch.export", "torchscript"
EXPORTERS = (TORCH_EXPORT, TORCHSCRIPT)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` wrote: ``path``, the ``exporter`` that wrote it (one of
    ``EXPORTERS``) and, for the TorchScript fallback, ``fallback_reason`` (one line)."""
    path: Path
    exporter: str
    fallback_reason: str = ""

    def describe(self) -> str:
        """``"torch.export-based exporter"`` or ``"TorchScript-based exporter (fallback: ...)"``."""
        if self.exporter == TORCH_EXPORT:
            return "torch.export-based exporter"
        return "TorchScript-based exporter" + (f" (fallback: {self.fallback_reason})" if self.fallback_reason else "")


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
                opset: int = DEFAULT_OPSET) -> OnnxExport:
    """Write ``model`` (image (N, 3, H, W) float32 -> heatmaps) to ``path`` as ONNX.

    Args:
        model: static or dynamic pose model; a fused copy is exported, ``model`` is unchanged.
        image_size_wh: input size (w, h).
        batch: ``1`` (fixed) or ``"dynamic"`` (a symbolic batch axis named ``batch``).
        opset: ONNX opset.
    Returns:
        ``OnnxExport``: the written path (input name ``image``, output name ``heatmaps``) and
        the exporter that wrote it.
    """
    path = Path(path)
    model = prepare_for_export(model, batch)
    w, h = image_size_wh
    example = torch.zeros(2 if batch == "dynamic" else 1, 3, h, w)
    with written_atomically(path) as tmp:
        exporter, reason = write_onnx(model, example, tmp, opset=opset, input_names=["image"],
                                      output_names=["heatmaps"], dynamic_batch=batch == "dynamic")
    return OnnxExport(path, exporter, reason)


def torch_export_unavailable(opset: int) -> str:
    """Why the ``torch.export``-based exporter cannot write ``opset`` here, or ``""``."""
    if opset < DYNAMO_MIN_OPSET:
        return f"opset {opset} is below {DYNAMO_MIN_OPSET}, the lowest the torch.export-based exporter writes"
    if importlib.util.find_spec("onnxscript") is None:
        return "onnxscript, which the torch.export-based exporter needs, is not installed"
    return ""


def write_onnx(model: nn.Module, example: torch.Tensor, path, *, opset: int = DEFAULT_OPSET,
               input_names=None, output_names=None, dynamic_batch: bool = False):
    """Export ``model`` traced on ``example`` (N, ...) to the ONNX file ``path``: the one place
    posedy calls ``torch.onnx.export``.

    The ``torch.export``-based exporter first; the TorchScript-based one when that is
    unavailable (``torch_export_unavailable``) or raises. An ``OSError`` (the file cannot be
    written) is raised as it is, not retried.

    Args:
        dynamic_batch: axis 0 of the first input and of every output is symbolic, named
            ``batch``; otherwise every size is the example's.
    Returns:
        ``(exporter, fallback_reason)``: one of ``EXPORTERS`` and, for the fallback, one line
        saying why (``""`` otherwise).
    """
    reason = torch_export_unavailable(opset)
    if not reason:
        try:
            torch_export(model, example, path, opset=opset, input_names=input_names,
                         output_names=output_names, dynamic_batch=dynamic_batch)
            return TORCH_EXPORT, ""
        except OSError:
            raise
        except Exception as exc:  # the exporter's failures have no common base class
            lines = _ANSI.sub("", str(exc)).strip().splitlines()
            reason = f"the torch.export-based exporter failed: {type(exc).__name__}: {lines[0] if lines else ''}"
    dynamic_axes = None
    if dynamic_batch:
        names = list(input_names or [])[:1] + list(output_names or [])
        dynamic_axes = {name: {0: "batch"} for name in names}
    torchscript_export(model, example, path, input_names=input_names, output_names=output_names,
                       dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    return TORCHSCRIPT, reason


def torch_export(model: nn.Module, example: torch.Tensor, path, *, opset: int, input_names=None,
                 output_names=None, dynamic_batch: bool = False) -> None:
    """``torch.onnx.export(..., dynamo=True)``: one self-contained file (no external weights
    file: the tensors stay inside, as a pose model is far below protobuf's 2 GB), quiet."""
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False, verbose=False,
                          input_names=input_names, output_names=output_names, opset_version=opset,
                          dynamic_shapes=dynamic_shapes)


def torchscript_export(model: nn.Module, example: torch.Tensor, path, **options) -> None:
    """``torch.onnx.export(..., dynamo=False)``, the fallback of ``write_onnx``, without its warnings.

    The TorchScript exporter announces its own deprecation; ``write_onnx`` says instead that
    and why the fallback was used. With batch 1 the trace keeps the single-sample branch,
    which is the intent.
    """
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (example,), str(path), dynamo=False, **options)
