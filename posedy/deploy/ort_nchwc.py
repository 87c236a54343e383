"""Dynamic models on onnxruntime's fast CPU convolutions, batch 1.

onnxruntime's CPU speed comes from its NCHWc graph transformer: convolutions move to a
channel-blocked layout (``com.microsoft.nchwc`` ops), their weights are reordered into that
layout once, and activations and residual additions are fused into them. The transformer only
touches convolutions whose weight is a constant, so a dynamic convolution, whose kernel is
computed per image, falls back to onnxruntime's generic convolution: for the depthwise layers
of a Type-B head that is 4-6x slower than the static model's (docs/benchmarks.md).

The NCHWc convolution kernel itself reads its weight input on every run. This module therefore
lets onnxruntime build the blocked graph for a *static twin* of the model and then feeds each
dynamic layer's aggregated kernel into it:

1. The BatchNorm-folded model is copied and every ``DynamicConv2d`` replaced by an
   ``nn.Conv2d`` of the same geometry whose weight and bias hold *codes*: their own flat
   indices plus one, unique across the model (exact in float32 below 2**24).
2. onnxruntime optimises the twin's ONNX export on this machine (``ORT_ENABLE_ALL``) and writes
   the optimised graph. A reordered weight is a permutation of the original with zero padding,
   so the codes it holds say, for each position, which original element landed there.
3. For every convolution whose weight holds one layer's codes, the K kernels of that layer are
   permuted the same way offline. Aggregation is linear, so ``pi @ permuted kernels`` *is* the
   reordered aggregated kernel; a ``MatMul`` computes it per run and replaces the constant.
   The attention ``pi`` comes from the convolution's input: a mean over the blocked tensor
   (viewed as (C/B, H*W, B)), FC, ReLU, FC with 1/tau folded in, softmax.

Limits: batch 1 (one kernel per run), the input size given at build time, the "attention"
inspection mode, and the machine it was built on (the block size B is the CPU's SIMD width:
8 with AVX2, 16 with AVX-512). onnxruntime itself warns that such an optimised graph is
hardware specific; build it where it runs.
"""

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posedy.layers import DynamicConv2d

from .fusion import bn_scale_shift, prepare_for_inference
from .onnx_export import export_onnx, write_onnx, written_atomically

NCHWC_DOMAIN = "com.microsoft.nchwc"
# Float32 represents every integer up to 2**24 exactly; codes must stay below it.
MAX_CODES = 2 ** 24
# Fusions that would fold arithmetic into a convolution's weight and so scramble its codes. With
# softmax attention every BatchNorm is already folded into the K kernels; with sigmoid attention
# it cannot be (the weights do not sum to one) and stays a separate node.
WEIGHT_REWRITING_FUSIONS = ["ConvBNFusion", "ConvMulFusion", "ConvAddFusion"]


def _session_options(threads: int = 1, optimized_path=None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # the hardware-specific-graph warning is the point here
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return options


def _optimize(onnx_path: Path, out_path: Path):
    """onnxruntime's ORT_ENABLE_ALL graph for this machine, written to and loaded from ``out_path``."""
    import onnx
    import onnxruntime

    onnxruntime.InferenceSession(str(onnx_path), _session_options(1, out_path),
                                 providers=["CPUExecutionProvider"],
                                 disabled_optimizers=WEIGHT_REWRITING_FUSIONS)
    return onnx.load(str(out_path))


class _ChannelAffine(nn.Module):
    """Eval-mode BatchNorm as ``x * scale + shift``: the ONNX exporter folds a BatchNorm into the
    convolution before it (scrambling the twin's codes) but leaves a plain Mul and Add alone."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        scale, shift = bn_scale_shift(bn)
        self.register_buffer("scale", scale.detach().reshape(1, -1, 1, 1))
        self.register_buffer("shift", shift.detach().reshape(1, -1, 1, 1))

    def forward(self, x):
        return x * self.scale + self.shift


def coded_twin(model: nn.Module):
    """A static copy of a BatchNorm-folded ``model`` with coded weights in place of dynamic layers.

    Returns:
        twin: ``model`` (in eval mode) with every remaining BatchNorm written as a per-channel
            multiply-add and every ``DynamicConv2d`` replaced by an ``nn.Conv2d`` (bias on)
            whose weight, flattened, is ``offset + 1 ... offset + P`` and whose bias continues
            with ``offset + P + 1 ... offset + P + C_out``.
        layers: one ``(layer, offset, P)`` per replaced layer, in definition order, where
            ``layer`` is the original ``DynamicConv2d``.
    Raises:
        ValueError: more codes than float32 holds exactly.
    """
    twin = copy.deepcopy(model)
    originals = dict(model.named_modules())
    layers, offset = [], 0
    for parent_name, parent in list(twin.named_modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                # Left unfolded by prepare_for_inference (sigmoid attention): keep it out of the conv.
                setattr(parent, name, _ChannelAffine(child))
            if not isinstance(child, DynamicConv2d):
                continue
            conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                             child.padding, child.dilation, child.groups, bias=True)
            size = conv.weight.numel()
            codes = torch.arange(offset + 1, offset + size + child.out_channels + 1, dtype=torch.float64)
            with torch.no_grad():
                conv.weight.copy_(codes[:size].view_as(conv.weight))
                conv.bias.copy_(codes[size:])
            setattr(parent, name, conv)
            layers.append((originals[f"{parent_name}.{name}" if parent_name else name], offset, size))
            offset += size + child.out_channels
    if offset >= MAX_CODES:
        raise ValueError(f"{offset} dynamic parameters per kernel: more than float32 codes "
                         f"can address exactly ({MAX_CODES})")
    return twin, layers


def _decode(array: np.ndarray, offset: int) -> np.ndarray:
    """Original flat index per position of a reordered coded tensor; -1 where it is padding."""
    flat = array.reshape(-1).astype(np.int64)
    return np.where(flat == 0, -1, flat - offset - 1)


def _matching_layer(weight: np.ndarray, layers):
    """Index into ``layers`` of the layer whose codes fill ``weight`` (and nothing else), or None."""
    values = weight[weight != 0]
    if values.size == 0 or not np.array_equal(values, np.round(values)):
        return None
    low, high = values.min(), values.max()
    for index, (_, offset, size) in enumerate(layers):
        if offset < low and high <= offset + size:
            return index if np.unique(values).size == size else None
    return None


class _GraphEditor:
    """Collects the nodes and constants that replace one coded convolution's weight and bias."""

    def __init__(self):
        self.nodes, self.initializers = [], []

    def const(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs, output: str, **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output


def _attention_nodes(edit: _GraphEditor, layer: DynamicConv2d, x: str, blocked: bool, block: int,
                     prefix: str) -> str:
    """Nodes computing the (1, K) attention of ``layer`` from its input tensor ``x``."""
    att = layer.attention
    cin = layer.in_channels
    fc1 = att.fc1.weight.detach().float().numpy()
    if blocked:
        # A blocked tensor pooled by the NCHWc kernel is (1, C_pad, 1, 1): channel order, padding
        # channels last, which meet zero columns of fc1.
        cpad = -(-cin // block) * block
        pooled = edit.node("GlobalAveragePool", [x], f"{prefix}_pool", domain=NCHWC_DOMAIN)
        padded = np.zeros((fc1.shape[0], cpad), np.float32)
        padded[:, :cin] = fc1
        fc1 = padded
    else:
        pooled = edit.node("GlobalAveragePool", [x], f"{prefix}_pool")
    pooled = edit.node("Flatten", [pooled], f"{prefix}_pooled", axis=1)
    hidden = edit.node("Gemm", [pooled, edit.const(f"{prefix}_fc1_w", fc1),
                                edit.const(f"{prefix}_fc1_b", att.fc1.bias.detach().float().numpy())],
                       f"{prefix}_fc1", transB=1)
    hidden = edit.node("Relu", [hidden], f"{prefix}_relu")
    fc2_w = att.fc2.weight.detach().float().numpy()
    fc2_b = att.fc2.bias.detach().float().numpy()
    # The layer's own definition (KernelAttention.from_pooled), with 1/tau folded into fc2.
    spec = att.spec
    if spec.divides_by_tau:
        tau = float(layer.temperature)
        fc2_w, fc2_b = fc2_w / tau, fc2_b / tau
    logits = edit.node("Gemm", [hidden, edit.const(f"{prefix}_fc2_w", fc2_w),
                                edit.const(f"{prefix}_fc2_b", fc2_b)], f"{prefix}_fc2", transB=1)
    return edit.node(spec.onnx_op, [logits], f"{prefix}_pi", **dict(spec.onnx_attrs))


def _aggregate_nodes(edit: _GraphEditor, layer: DynamicConv2d, pi: str, index: np.ndarray,
                     shape, prefix: str, bias: bool) -> str:
    """``pi @ kernels`` permuted by ``index`` (-1 = zero padding), reshaped to ``shape``."""
    k = layer.num_kernels
    if bias and layer.bias is None:
        source = np.zeros((k, layer.out_channels), np.float32)
    elif bias:
        source = layer.bias.detach().float().reshape(k, -1).numpy()
    else:
        source = layer.weight.detach().float().reshape(k, -1).numpy()
    source = np.concatenate([source, np.zeros((k, 1), np.float32)], axis=1)  # index -1 -> 0
    stacked = source[:, index]
    if layer.attention.sums_to_one and np.array_equal(stacked, np.broadcast_to(stacked[:1], stacked.shape)):
        # Equal rows mix to themselves when the weights sum to one: typically the bias of a
        # bias-free convolution after BatchNorm folding (the BatchNorm shift, the same for all K).
        return edit.const(prefix, stacked[0].reshape(shape))
    flat = edit.node("MatMul", [pi, edit.const(f"{prefix}_kernels", stacked)], f"{prefix}_mixed")
    return edit.node("Reshape", [flat, edit.const(f"{prefix}_shape", np.array(shape, np.int64))], prefix)


def nchwc_block_size():
    """The channel block onnxruntime's NCHWc transformer uses on this CPU (8 AVX2, 16 AVX-512),
    or None where it does not apply its NCHWc transformer (then the graph keeps plain
    convolutions and every dynamic kernel is fed to them in the ONNX layout)."""
    from onnx import numpy_helper

    probe = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.onnx"
        write_onnx(probe, torch.zeros(1, 4, 8, 8), path)
        graph = _optimize(path, Path(tmp) / "probe_opt.onnx").graph
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.domain == NCHWC_DOMAIN and node.op_type == "Conv":
            # Four output channels padded up to one block.
            return int(numpy_helper.to_array(inits[node.input[1]]).shape[0])
    return None


def build_nchwc_graph(model: nn.Module, image_size_wh=(192, 256)):
    """An onnxruntime graph of ``model`` for batch 1 on this machine's CPU (see module doc).

    Args:
        model: static or dynamic pose model (BatchNorm is folded into a copy; ``model`` is
            unchanged). Dynamic layers must use the "attention" mode.
        image_size_wh: input (w, h); the graph takes (1, 3, h, w) float32 ``image``.
    Returns:
        ``onnx.ModelProto`` with ``com.microsoft.nchwc`` ops; run it with onnxruntime on a
        machine with the same NCHWc block size.
    Raises:
        RuntimeError: a dynamic layer whose convolution onnxruntime did not keep as one node.
    """
    fused = prepare_for_inference(copy.deepcopy(model))
    for layer in fused.modules():
        if isinstance(layer, DynamicConv2d):
            layer.set_mode("attention")
    twin, layers = coded_twin(fused)
    block = nchwc_block_size() if layers else 0
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(twin, Path(tmp) / "twin.onnx", image_size_wh, batch=1).path
        graph_model = _optimize(path, Path(tmp) / "twin_opt.onnx")
    if not layers:
        return graph_model

    from onnx import numpy_helper

    graph = graph_model.graph
    inits = {i.name: i for i in graph.initializer}
    edit = _GraphEditor()
    nodes, done = [], set()
    for node in graph.node:
        found = None
        if node.op_type in ("Conv", "FusedConv") and len(node.input) > 2 and node.input[1] in inits:
            weight = numpy_helper.to_array(inits[node.input[1]])
            found = _matching_layer(weight, layers)
        if found is None:
            nodes.append(node)
            continue
        layer, offset, size = layers[found]
        bias = numpy_helper.to_array(inits[node.input[2]])
        bias_index = _decode(bias, offset + size)
        if bias_index.min() < -1 or bias_index.max() >= layer.out_channels or found in done:
            raise RuntimeError(f"dynamic layer {found} ({layer}): unexpected bias or duplicate "
                               "convolution in onnxruntime's graph")
        prefix = f"posedy_dy{found}"
        if node.domain == NCHWC_DOMAIN and not block:
            raise RuntimeError("onnxruntime's graph has NCHWc convolutions but its block size is unknown")
        blocked = node.domain == NCHWC_DOMAIN and layer.in_channels >= block
        pi = _attention_nodes(edit, layer, node.input[0], blocked, block, prefix)
        node.input[1] = _aggregate_nodes(edit, layer, pi, _decode(weight, offset),
                                         weight.shape, f"{prefix}_weight", bias=False)
        node.input[2] = _aggregate_nodes(edit, layer, pi, bias_index, bias.shape,
                                         f"{prefix}_bias", bias=True)
        done.add(found)
        nodes.extend(edit.nodes)
        edit.nodes = []
        nodes.append(node)
    missing = [str(layers[i][0]) for i in range(len(layers)) if i not in done]
    if missing:
        raise RuntimeError(f"{len(missing)} dynamic layer(s) not found as one convolution in "
                           f"onnxruntime's graph, first: {missing[0]}")
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + edit.initializers)
    return graph_model


def export_nchwc(model: nn.Module, path, image_size_wh=(192, 256)) -> Path:
    """``build_nchwc_graph`` written to ``path`` through a temporary file and a rename."""
    import onnx

    path = Path(path)
    graph = build_nchwc_graph(model, image_size_wh)
    with written_atomically(path) as tmp:
        onnx.save(graph, str(tmp))
    return path


class NchwcSession:
    """``build_nchwc_graph`` in an onnxruntime session: (N, 3, H, W) tensor -> heatmaps tensor.

    Runs one image at a time (the graph is batch 1). ``threads``: onnxruntime intra-op threads.
    """

    training = False

    def __init__(self, model: nn.Module, image_size_wh=(192, 256), threads: int = 1):
        import onnxruntime

        self.graph = build_nchwc_graph(model, image_size_wh)
        self.session = onnxruntime.InferenceSession(self.graph.SerializeToString(),
                                                    _session_options(threads),
                                                    providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run_numpy(self, image: np.ndarray) -> np.ndarray:
        """image: (1, 3, H, W) float32 -> (1, K, h, w) float32."""
        return self.session.run(None, {self.input_name: image})[0]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().cpu().numpy().astype(np.float32)
        outs = [self.run_numpy(array[i:i + 1]) for i in range(array.shape[0])]
        return torch.from_numpy(np.concatenate(outs, axis=0))
