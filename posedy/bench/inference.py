"""Inference latency of static vs dynamic Type-B MobileNetV2 pose models (batch 1, one thread).

Every path runs for both networks, interleaved in one process (static, dynamic, static, ...),
so machine load hits both alike; medians and dynamic/static ratios are reported.

Paths:
    eager      the model as trained (BatchNorm separate), ``torch.inference_mode``.
    fused      BatchNorm folded into the (K) kernels (``posedy.deploy.prepare_for_inference``).
    onnx       onnxruntime (one thread, all graph optimisations) on the batch-1 export.
    onnx-nchwc onnxruntime's NCHWc graph with the aggregated kernels fed into it
               (``posedy.deploy.ort_nchwc``; for a static model the same graph as ``onnx``).
Opt-in (``--paths``), slow to set up:
    compiled   ``torch.compile`` of the fused model, constant shapes (compile seconds in ``setup_s``).
    onnx-branches  dynamic only: the batch-agnostic export (K constant-weight convolutions).
"""

import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

PATHS = ("eager", "fused", "compiled", "onnx", "onnx-nchwc", "onnx-branches")
DEFAULT_PATHS = ("eager", "fused", "onnx", "onnx-nchwc")


def add_arguments(parser) -> None:
    parser.add_argument("--widths", type=float, nargs="+", default=[0.5, 1.0],
                        help="MobileNetV2 width multipliers (default 0.5 1.0)")
    parser.add_argument("--input-size", type=int, nargs=2, default=[192, 256], metavar=("W", "H"))
    parser.add_argument("--paths", nargs="+", default=list(DEFAULT_PATHS), choices=PATHS)
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per path and model")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)


def build_models(width: float, seed: int = 0):
    """(static, dynamic) Type-B MobileNetV2 pose models of one width, eval mode, random weights."""
    from posedy.config import BackboneConfig, HeadConfig, ModelConfig
    from posedy.models import build_pose_model

    models = []
    for dynamic in (False, True):
        torch.manual_seed(seed)
        cfg = ModelConfig(BackboneConfig("mobilenet_v2", width_mult=width, dynamic=dynamic),
                          HeadConfig("upsample_bneck", dynamic=dynamic))
        models.append(build_pose_model(cfg).eval())
    return models


def fused_copy(model):
    """A copy of ``model`` as inference runs it: BatchNorm folded into every (K) kernel."""
    from posedy.deploy import prepare_for_inference

    return prepare_for_inference(copy.deepcopy(model))


def _torch_runner(model, x):
    def call():
        with torch.inference_mode():
            model(x)
    return call


def _onnx_runner(model, x, folder: Path, name: str, batch, threads: int):
    import onnxruntime

    from posedy.deploy import export_onnx

    h, w = x.shape[2], x.shape[3]
    path = export_onnx(model, folder / f"{name}.onnx", (w, h), batch=batch).path
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy()}
    return lambda: session.run(None, feed)


def _make_runners(path: str, static, dynamic, x, folder: Path, threads: int):
    """{"static": callable, "dynamic": callable} for one path, plus setup seconds per model."""
    runners, setup = {}, {}
    for kind, model in (("static", static), ("dynamic", dynamic)):
        start = time.perf_counter()
        if path == "eager":
            runners[kind] = _torch_runner(model, x)
        elif path == "fused":
            runners[kind] = _torch_runner(fused_copy(model), x)
        elif path == "compiled":
            compiled = torch.compile(fused_copy(model), dynamic=False)
            runner = _torch_runner(compiled, x)
            runner()  # compiles
            runners[kind] = runner
        elif path == "onnx":
            runners[kind] = _onnx_runner(model, x, folder, f"{kind}_b1", 1, threads)
        elif path == "onnx-nchwc":
            from posedy.deploy.ort_nchwc import NchwcSession

            session = NchwcSession(model, (x.shape[3], x.shape[2]), threads)
            feed = x.numpy()
            runners[kind] = lambda session=session: session.run_numpy(feed)
        elif path == "onnx-branches":
            if kind == "static":
                continue
            runners[kind] = _onnx_runner(model, x, folder, f"{kind}_branches", "dynamic", threads)
        setup[kind] = round(time.perf_counter() - start, 2)
    return runners, setup


def dynamic_kernel_bytes(model) -> int:
    """Bytes of all K kernels (and biases) of the dynamic layers: what aggregation reads per image."""
    from posedy.layers import dynamic_layers

    return sum(p.numel() * p.element_size() for layer in dynamic_layers(model)
               for p in (layer.weight, layer.bias) if p is not None)


def read_bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
    """Single-thread streaming read bandwidth (GB/s): median time of ``sum`` over a float32 array
    far larger than the caches."""
    data = torch.ones(megabytes * 2 ** 20 // 4)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        data.sum()
        times.append(time.perf_counter() - start)
    return round(data.numel() * 4 / statistics.median(times) / 1e9, 2)


def _interleaved(runners: dict, repeats: int, warmup: int):
    """Runs alternating between runners: (median ms per runner, the list of ms per runner)."""
    times = {name: [] for name in runners}
    for step in range(warmup + repeats):
        for name, call in runners.items():
            start = time.perf_counter()
            call()
            if step >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: round(statistics.median(v), 2) for name, v in times.items()}, times


def _round_ratios(times: dict, path: str):
    """Median and quartiles of dynamic/static per round (the two ran back to back), or None."""
    if (path, "static") not in times or (path, "dynamic") not in times:
        return None
    ratios = sorted(d / s for s, d in zip(times[(path, "static")], times[(path, "dynamic")]))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"median": round(q[1], 3), "q25": round(q[0], 3), "q75": round(q[2], 3)}


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    w, h = args.input_size
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(args.seed))
    results = {}
    bandwidth = read_bandwidth_gbs()
    with tempfile.TemporaryDirectory() as tmp:
        for width in args.widths:
            static, dynamic = build_models(width, args.seed)
            runners, setup, errors = {}, {}, {}
            for path in args.paths:
                try:
                    made, secs = _make_runners(path, static, dynamic, x, Path(tmp), args.threads)
                except Exception as exc:  # noqa: BLE001 - a path that cannot run here is reported
                    errors[path] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    continue
                setup[path] = secs
                for kind, call in made.items():
                    runners[(path, kind)] = call
            medians, times = _interleaved(runners, args.repeats, args.warmup)
            table = {"static": {}, "dynamic": {}}
            for (path, kind), ms in medians.items():
                table[kind][path] = ms
            ratios = {p: round(table["dynamic"][p] / table["static"][p], 3)
                      for p in table["static"] if p in table["dynamic"]}
            best_static = min(table["static"], key=table["static"].get) if table["static"] else None
            best_dynamic = min(table["dynamic"], key=table["dynamic"].get) if table["dynamic"] else None
            per_round = {p: _round_ratios(times, p) for p in ratios}
            entry = {"median_ms": table, "ratio_like_for_like": ratios, "ratio_per_round": per_round,
                     "setup_s": setup}
            if best_static and best_dynamic:
                entry["best"] = {"static": best_static, "dynamic": best_dynamic,
                                 "ratio": round(table["dynamic"][best_dynamic] / table["static"][best_static], 3)}
                # Aggregation must read every kernel once per image; at the measured bandwidth that
                # alone bounds the dynamic/static ratio from below (fp32 kernels, no other overhead).
                kernel_mb = dynamic_kernel_bytes(fused_copy(dynamic)) / 1e6
                floor_ms = kernel_mb / bandwidth  # MB / (GB/s) = ms
                static_ms = table["static"][best_static]
                entry["aggregation_floor"] = {"kernel_mb": round(kernel_mb, 1), "read_gbs": bandwidth,
                                              "floor_ms": round(floor_ms, 2),
                                              "floor_ratio": round((static_ms + floor_ms) / static_ms, 3)}
            if errors:
                entry["errors"] = errors
            results[f"x{width}"] = entry
    return {"benchmark": "inference", "batch": 1, "threads": args.threads, "input_size_wh": [w, h],
            "repeats": args.repeats, "model": "Type-B MobileNetV2 (backbone and head static / dynamic K=4)",
            "results": results}
