"""Training-step time (forward, backward, Adam step) of static vs dynamic Type-B pose models.

Batch 32 on the CPU threads torch is given. Variants run interleaved step by step in one
process; medians and ratios to the static model are reported:
    static            the static network.
    dynamic           ``implementation="auto"``: 1x1 -> batched matmul, others -> grouped conv.
    dynamic-grouped   every dynamic layer through the batch-as-groups convolution (reference).
    static-channels-last, dynamic-channels-last
                      the first two with batches and 4-D weights in channels_last memory format
                      (``posedy.layers.to_channels_last``, as ``train.channels_last``), timed in
                      the same run as the contiguous ones.
    static-torch-dw-grad, dynamic-torch-dw-grad
                      the first two with PyTorch's own weight gradient for every depthwise
                      layer (``posedy.layers.depthwise.torch_weight_grad``): the reference for
                      the convolution-form gradient of large kernels that the others use.
Full 256x192 steps take seconds on two cores, so repeats are few; ``--input-size`` measures
smaller crops. ``--device cuda --amp`` times the steps on a GPU under float16 autocast with a
GradScaler (as ``train.amp``), synchronising before and after each step, and adds images/s.
``--malloc tuned`` (the default, as ``tools/train.py``) keeps freed memory in the
heap (``posedy.engine.allocator``); ``--malloc default`` leaves glibc as it is.
"""

import contextlib
import resource
import statistics
import time

import torch

from posedy.layers import dynamic_layers, to_channels_last
from posedy.layers.depthwise import torch_weight_grad

VARIANTS = ("static", "dynamic", "dynamic-grouped", "static-channels-last", "dynamic-channels-last",
            "static-torch-dw-grad", "dynamic-torch-dw-grad")


def add_arguments(parser) -> None:
    parser.add_argument("--width", type=float, default=0.5, help="MobileNetV2 width multiplier")
    parser.add_argument("--head-width", type=float, default=1.0,
                        help="Type-B head width multiplier (the demo: 0.25)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--input-size", type=int, nargs=2, default=[192, 256], metavar=("W", "H"))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS[:3]), choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--amp", action="store_true", help="float16 autocast + GradScaler (CUDA only)")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                        help="glibc malloc kept from returning freed memory (as tools/train.py) or not")


def _build(variant: str, width: float, seed: int, head_width: float = 1.0):
    from posedy.config import BackboneConfig, HeadConfig, ModelConfig
    from posedy.models import build_pose_model

    dynamic = not variant.startswith("static")
    torch.manual_seed(seed)
    cfg = ModelConfig(BackboneConfig("mobilenet_v2", width_mult=width, dynamic=dynamic),
                      HeadConfig("upsample_bneck", dynamic=dynamic, width_mult=head_width))
    model = build_pose_model(cfg).train()
    if variant == "dynamic-grouped":
        for layer in dynamic_layers(model):
            layer.set_implementation("grouped")
    return model


def run(args) -> dict:
    malloc = args.malloc
    if malloc == "tuned":
        from posedy.engine.allocator import keep_freed_memory
        if not keep_freed_memory():
            malloc = "default (not glibc)"
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = args.input_size
    device = torch.device(args.device)
    amp = bool(args.amp) and device.type == "cuda"
    gen = torch.Generator().manual_seed(args.seed)
    x_contiguous = torch.randn(args.batch, 3, h, w, generator=gen).to(device)
    target = torch.rand(args.batch, 17, h // 4, w // 4, generator=gen).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    steps = {}
    for variant in args.variants:
        model = _build(variant, args.width, args.seed, args.head_width).to(device)
        x = x_contiguous
        if args.channels_last or variant.endswith("-channels-last"):
            to_channels_last(model)
            x = x_contiguous.contiguous(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)

        grad_mode = torch_weight_grad if variant.endswith("-torch-dw-grad") else contextlib.nullcontext

        def step(model=model, optimizer=optimizer, scaler=scaler, x=x, grad_mode=grad_mode):
            optimizer.zero_grad(set_to_none=True)
            with grad_mode(), torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                output = model(x)
            loss = torch.nn.functional.mse_loss(output.float(), target)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            sync()
        steps[variant] = step
    times = {v: [] for v in steps}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(args.warmup + args.steps):
        for variant, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            if i >= args.warmup:
                times[variant].append((time.perf_counter() - start) * 1e3)
    after = resource.getrusage(resource.RUSAGE_SELF)
    medians = {v: round(statistics.median(t), 1) for v, t in times.items()}
    ratios = {v: round(ms / medians["static"], 3) for v, ms in medians.items() if "static" in medians}
    return {"benchmark": "train-step", "width": args.width, "head_width": args.head_width, "batch": args.batch,
            "input_size_wh": [w, h],
            "threads": torch.get_num_threads(), "steps": args.steps, "malloc": malloc,
            "model": "Type-B MobileNetV2 (backbone and head static / dynamic K=4), Adam",
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "amp": amp, "channels_last": bool(args.channels_last),
            "median_ms": medians, "ratio_to_static": ratios,
            "images_per_s": {v: round(args.batch * 1e3 / ms, 1) for v, ms in medians.items()},
            # CPU seconds of the whole timed loop (all variants): page faults show up as system time.
            "cpu_s": {"user": round(after.ru_utime - usage.ru_utime, 1),
                      "system": round(after.ru_stime - usage.ru_stime, 1),
                      "major_minor_faults": [after.ru_majflt - usage.ru_majflt, after.ru_minflt - usage.ru_minflt]}}
