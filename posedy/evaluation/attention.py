"""Inspecting dynamic convolution: attention statistics and kernel-aggregation modes.

Section 4.3 of the paper (Tables 3 and 4) checks that a DY-CNN is dynamic by replacing the
attention-weighted kernel with the average kernel, the argmax kernel, attention shuffled
over kernels (per image) or taken from another image, and by switching attention on or off
per group of layers that share an input resolution. These helpers drive the
``DynamicConv2d`` inspection modes and record its attention; they never change weights.
"""

from contextlib import contextmanager

import numpy as np
import torch

from posedy.layers.dynamic_conv import named_dynamic_layers, set_inspection_mode


def attention_entropy(attention) -> np.ndarray:
    """Entropy of each attention vector, in nats (``0 * log 0 = 0``).

    Args:
        attention: (N, K) non-negative rows summing to 1.
    Returns:
        (N,) float64; ``log K`` for uniform attention, 0 for one-hot.
    """
    p = np.asarray(attention, dtype=np.float64)
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=1)


@contextmanager
def recording_attention(model: torch.nn.Module):
    """Within the block every dynamic layer stores its attention; yields ``{name: [(N, K) ...]}``
    with one array per forward call, and ``{name: (H, W)}`` of the layers' input sizes."""
    layers = named_dynamic_layers(model)
    records = {name: [] for name, _ in layers}
    sizes = {}
    handles = []
    for name, layer in layers:
        layer.record_attention = True

        def hook(module, inputs, output, name=name):
            records[name].append(module.last_attention.float().cpu().numpy())
            sizes[name] = tuple(inputs[0].shape[2:])
        handles.append(layer.register_forward_hook(hook))
    try:
        yield records, sizes
    finally:
        for handle in handles:
            handle.remove()
        for _, layer in layers:
            layer.record_attention = False
            layer.last_attention = None


def attention_statistics(attention: dict, sizes: dict) -> list:
    """Per-layer summary of recorded attention.

    Args:
        attention: ``{layer name: (N, K) array}`` over N crops.
        sizes: ``{layer name: (H, W)}`` input resolution of each layer.
    Returns:
        list of dicts (layer order kept) with ``layer``, ``input_hw``, ``num_kernels``,
        ``entropy`` (mean, nats), ``entropy_norm`` (mean entropy / log K: 1 flat, 0 sparse),
        ``max_weight`` (mean of the largest weight), ``top_kernel_share`` (fraction of
        crops whose argmax is the layer's most frequent argmax: 1 means one kernel wins
        everywhere, i.e. the attention hardly depends on the input) and
        ``mean_attention`` (K,).
    """
    rows = []
    for name, pi in attention.items():
        pi = np.asarray(pi, dtype=np.float64)
        k = pi.shape[1]
        entropy = attention_entropy(pi)
        winners = np.bincount(pi.argmax(axis=1), minlength=k)
        rows.append({
            "layer": name, "input_hw": list(sizes.get(name, ())), "num_kernels": int(k),
            "entropy": float(entropy.mean()),
            "entropy_norm": float(entropy.mean() / np.log(k)) if k > 1 else 0.0,
            "max_weight": float(pi.max(axis=1).mean()),
            "top_kernel_share": float(winners.max() / max(len(pi), 1)),
            "mean_attention": pi.mean(axis=0).round(6).tolist(),
        })
    return rows


def resolution_groups(sizes: dict) -> list:
    """Layers grouped by input resolution, highest resolution first (Table 4's columns).

    Args:
        sizes: ``{layer name: (H, W)}`` in layer order.
    Returns:
        list of ``((H, W), [layer names])``.
    """
    groups = {}
    for name, hw in sizes.items():
        groups.setdefault(tuple(hw), []).append(name)
    return sorted(groups.items(), key=lambda item: -(item[0][0] * item[0][1]))


def table4_patterns(num_groups: int) -> list:
    """Table 4's on/off patterns over resolution groups (highest resolution first).

    Attention on for the lowest-resolution ``j`` groups (``j = 1..G``), then on for the
    highest-resolution ``j`` groups (``j = G-1..1``), then off everywhere.

    Returns:
        list of tuples of G booleans (True: attention, False: average kernel).
    """
    g = num_groups
    patterns = [tuple(i >= g - j for i in range(g)) for j in range(1, g + 1)]
    patterns += [tuple(i < j for i in range(g)) for j in range(g - 1, 0, -1)]
    patterns.append(tuple(False for _ in range(g)))
    return patterns


def set_group_pattern(model: torch.nn.Module, groups: list, pattern) -> None:
    """Attention on in the groups flagged True, average kernel in the others."""
    layers = dict(named_dynamic_layers(model))
    for (_, names), on in zip(groups, pattern):
        set_inspection_mode([layers[n] for n in names], "attention" if on else "average")


@contextmanager
def aggregation_mode(model: torch.nn.Module, mode: str, seed: int = 0):
    """Every dynamic layer aggregates kernels by ``mode`` within the block, then
    ``"attention"`` again. The shuffle modes draw from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    set_inspection_mode(model, mode, generator)
    try:
        yield
    finally:
        set_inspection_mode(model, "attention")


def entropy_by_resolution(stats: list) -> list:
    """Mean attention statistics of the layers that share an input resolution (Section 5.2's
    "flat at low levels, sparse at high levels" read by resolution).

    Args:
        stats: rows of ``attention_statistics`` (``input_hw``, ``entropy_norm``, ``max_weight``).
    Returns:
        list of dicts ``{"input_hw": [H, W], "layers": n, "entropy_norm": mean, "max_weight": mean}``,
        highest resolution first.
    """
    groups = {}
    for row in stats:
        groups.setdefault(tuple(row["input_hw"]), []).append(row)
    out = []
    for hw in sorted(groups, key=lambda hw: -(hw[0] * hw[1]) if hw else 0):
        rows = groups[hw]
        out.append({"input_hw": list(hw), "layers": len(rows),
                    "entropy_norm": float(np.mean([r["entropy_norm"] for r in rows])),
                    "max_weight": float(np.mean([r["max_weight"] for r in rows]))})
    return out
