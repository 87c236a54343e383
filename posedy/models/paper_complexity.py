"""Our parameter and MAdds counts beside the paper's (Tables 1, 8 and 10), for docs/complexity.md.

The paper's figures are data rows below, each commented with its table. ``*_rows`` functions
build the models, measure them with ``complexity`` and return plain dicts;
``posedy.reports.complexity_doc.render_markdown`` turns them into the document. Relative
differences are ``(ours - paper) / paper``.
"""

from dataclasses import dataclass
from functools import partial
from typing import Dict, List

import torch
from torch import nn

from posedy.architectures import DYNAMIC_POSITIONS
from posedy.layers import create_conv2d

from .backbones.mobilenet_v2 import MobileNetV2
from .classifier import build_classifier
from .complexity import Complexity, conv_transpose_madds, count_complexity, pose_complexity
from .pose_net import PoseNet
from .registry import BACKBONES, HEADS

M = 1e6
G = 1e9

# Table 1: MAdds (M) of MobileNetV2 at 224x224 per width; "static", then K = 2, 4, 6, 8.
PAPER_TABLE1 = {
    1.0: {"static": 300.0, 2: 309.5, 4: 312.9, 6: 316.3, 8: 319.8},
    0.75: {"static": 209.0, 2: 215.6, 4: 217.5, 6: 219.5, 8: 221.4},
    0.5: {"static": 97.0, 2: 100.5, 4: 101.4, 6: 102.3, 8: 103.2},
    0.35: {"static": 59.2, 2: 61.5, 4: 62.0, 6: 62.5, 8: 62.9},
}


@dataclass(frozen=True)
class ClassifierRow:
    """A classifier of Table 8 (K = 4 when dynamic) with the paper's #Param and MAdds."""
    label: str
    name: str
    width_mult: float
    dynamic: bool
    params: float   # paper, absolute
    madds: float    # paper, absolute


# Table 8 (ImageNet, 224x224).
PAPER_TABLE8 = (
    ClassifierRow("MobileNetV2 x1.0", "mobilenet_v2", 1.0, False, 3.5 * M, 300.0 * M),
    ClassifierRow("DY-MobileNetV2 x1.0", "mobilenet_v2", 1.0, True, 11.1 * M, 312.9 * M),
    ClassifierRow("MobileNetV2 x0.75", "mobilenet_v2", 0.75, False, 2.6 * M, 209.0 * M),
    ClassifierRow("DY-MobileNetV2 x0.75", "mobilenet_v2", 0.75, True, 7.0 * M, 217.5 * M),
    ClassifierRow("MobileNetV2 x0.5", "mobilenet_v2", 0.5, False, 2.0 * M, 97.0 * M),
    ClassifierRow("DY-MobileNetV2 x0.5", "mobilenet_v2", 0.5, True, 4.0 * M, 101.4 * M),
    ClassifierRow("MobileNetV2 x0.35", "mobilenet_v2", 0.35, False, 1.7 * M, 59.2 * M),
    ClassifierRow("DY-MobileNetV2 x0.35", "mobilenet_v2", 0.35, True, 2.8 * M, 62.0 * M),
    ClassifierRow("MobileNetV3-Small", "mobilenet_v3_small", 1.0, False, 2.9 * M, 66.0 * M),
    ClassifierRow("DY-MobileNetV3-Small", "mobilenet_v3_small", 1.0, True, 4.8 * M, 68.5 * M),
    ClassifierRow("ResNet-18", "resnet18", 1.0, False, 11.1 * M, 1.81 * G),
    ClassifierRow("DY-ResNet-18", "resnet18", 1.0, True, 42.7 * M, 1.85 * G),
    ClassifierRow("ResNet-10", "resnet10", 1.0, False, 5.2 * M, 0.89 * G),
    ClassifierRow("DY-ResNet-10", "resnet10", 1.0, True, 18.6 * M, 0.91 * G),
)


@dataclass(frozen=True)
class PoseRow:
    """A row of Table 10 (256x192 input, K = 4) with the paper's backbone and head figures."""
    type: str
    label: str
    backbone: str
    width_mult: float
    dynamic: bool
    backbone_params: float
    backbone_madds: float
    head: str
    head_dynamic: bool
    head_params: float
    head_madds: float


# Table 10 (COCO keypoints, 256x192). Type-A: dynamic backbone only; Type-B: backbone and head.
PAPER_TABLE10 = (
    PoseRow("A", "ResNet-18", "resnet18", 1.0, False, 10.6 * M, 1.77 * G, "deconv", False, 8.4 * M, 5.4 * G),
    PoseRow("A", "DY-ResNet-18", "resnet18", 1.0, True, 42.2 * M, 1.81 * G, "deconv", False, 8.4 * M, 5.4 * G),
    PoseRow("A", "MobileNetV2 x1.0", "mobilenet_v2", 1.0, False, 2.2 * M, 292.6 * M, "deconv", False, 8.4 * M,
            5.4 * G),
    PoseRow("A", "DY-MobileNetV2 x1.0", "mobilenet_v2", 1.0, True, 9.8 * M, 305.3 * M, "deconv", False, 8.4 * M,
            5.4 * G),
    PoseRow("A", "MobileNetV2 x0.5", "mobilenet_v2", 0.5, False, 0.7 * M, 93.7 * M, "deconv", False, 8.4 * M,
            5.4 * G),
    PoseRow("A", "DY-MobileNetV2 x0.5", "mobilenet_v2", 0.5, True, 2.7 * M, 98.0 * M, "deconv", False, 8.4 * M,
            5.4 * G),
    PoseRow("A", "MobileNetV3-Small", "mobilenet_v3_small", 1.0, False, 1.1 * M, 62.7 * M, "deconv", False,
            8.4 * M, 5.4 * G),
    PoseRow("A", "DY-MobileNetV3-Small", "mobilenet_v3_small", 1.0, True, 2.8 * M, 65.1 * M, "deconv", False,
            8.4 * M, 5.4 * G),
    PoseRow("B", "MobileNetV2 x1.0", "mobilenet_v2", 1.0, False, 2.2 * M, 292.6 * M, "upsample_bneck", False,
            1.2 * M, 701.1 * M),
    PoseRow("B", "DY-MobileNetV2 x1.0", "mobilenet_v2", 1.0, True, 9.8 * M, 305.3 * M, "upsample_bneck", True,
            6.3 * M, 709.4 * M),
    PoseRow("B", "MobileNetV2 x0.5", "mobilenet_v2", 0.5, False, 0.7 * M, 93.7 * M, "upsample_bneck", False,
            1.2 * M, 701.1 * M),
    PoseRow("B", "DY-MobileNetV2 x0.5", "mobilenet_v2", 0.5, True, 2.7 * M, 98.0 * M, "upsample_bneck", True,
            6.3 * M, 709.4 * M),
    PoseRow("B", "MobileNetV3-Small", "mobilenet_v3_small", 1.0, False, 1.1 * M, 62.7 * M, "upsample_bneck", False,
            1.0 * M, 664.2 * M),
    PoseRow("B", "DY-MobileNetV3-Small", "mobilenet_v3_small", 1.0, True, 2.8 * M, 65.1 * M, "upsample_bneck",
            True, 4.9 * M, 671.1 * M),
)

POSE_INPUT = (192, 256)  # (w, h)
TABLE1_TOLERANCE = 0.03


def tolerance(name: str) -> float:
    """Agreement target for backbones and classifiers: 5%, ResNets 8%, MobileNetV3-Small 15%."""
    return {"resnet18": 0.08, "resnet10": 0.08, "mobilenet_v3_small": 0.15}.get(name, 0.05)


def param_unit(name: str) -> float:
    """The unit of "M" in the paper's parameter counts for a backbone or classifier: 2^20 for the
    ResNets (DY-ResNet-18 42.85M / 2^20 against 42.7M, 44.9M decimal), 10^6 for the MobileNets
    (MobileNetV2 x1.0 3,504,872 = 3.5M)."""
    return 2.0 ** 20 if name.startswith("resnet") else M


HEAD_TOLERANCE = 0.03  # Type-B head parameters against Table 10


def rel(ours: float, paper: float) -> float:
    return (ours - paper) / paper


def table1_rows() -> List[Dict]:
    """Table 1 cells: ``{"width", "kernels" ("static" or K), "ours", "paper", "rel"}`` (MAdds)."""
    rows = []
    for width, cells in PAPER_TABLE1.items():
        for kernels, paper in cells.items():
            static = kernels == "static"
            model = build_classifier("mobilenet_v2", width_mult=width, dynamic=not static,
                                     num_kernels=1 if static else kernels)
            ours = count_complexity(model, 224).madds
            rows.append({"width": width, "kernels": kernels, "ours": ours, "paper": paper * M,
                         "rel": rel(ours, paper * M)})
    return rows


def table8_rows() -> List[Dict]:
    """Table 8 rows: label, ours/paper params and MAdds, relative differences, tolerance."""
    rows = []
    for row in PAPER_TABLE8:
        options = {"width_mult": row.width_mult} if row.name == "mobilenet_v2" else {}
        c = count_complexity(build_classifier(row.name, dynamic=row.dynamic, num_kernels=4, **options), 224)
        params = c.params * M / param_unit(row.name)  # in the paper's unit, printed as "M"
        rows.append({"label": row.label, "name": row.name, "params": params, "madds": c.madds,
                     "paper_params": row.params, "paper_madds": row.madds,
                     "rel_params": rel(params, row.params), "rel_madds": rel(c.madds, row.madds),
                     "tolerance": tolerance(row.name)})
    return rows


def mobilenet_v2_last_conv_rows() -> List[Dict]:
    """DY-MobileNetV2 (K = 4) classifier parameters with the final 1x1 conv to 1280 static
    (our choice) and dynamic, beside Table 8, to show which reading the paper used."""
    rows = []
    for row in PAPER_TABLE8:
        if row.name != "mobilenet_v2" or not row.dynamic:
            continue
        counts = {}
        for last_dynamic in (False, True):
            backbone = MobileNetV2(row.width_mult, dynamic_positions=DYNAMIC_POSITIONS, dynamic_last=last_dynamic,
                                   conv_layer=partial(create_conv2d, num_kernels=4))
            model = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(backbone.out_channels, 1000))
            counts[last_dynamic] = count_complexity(model, 224)
        rows.append({"label": row.label, "paper_params": row.params, "paper_madds": row.madds,
                     "static_last": counts[False], "dynamic_last": counts[True]})
    return rows


# Table 5 rows (C1, C2, C3 = expand, depthwise, project; 4 = dynamic) on MobileNetV2 x0.5, and
# Table 7 rows on MobileNetV3-Small; the paper gives accuracy only, so these are our counts alone.
TABLE5_ROWS = ((), ("expand",), ("depthwise",), ("project",), ("expand", "project"), ("depthwise", "project"),
               ("expand", "depthwise"), ("expand", "depthwise", "project"))
TABLE7_ROWS = ((False, True), (False, False), (True, True), (True, False))  # (dynamic, se)


def ablation_rows() -> Dict[str, List[Dict]]:
    """Our counts for the Table 5 and Table 7 variants (classifiers at 224x224, K = 4)."""
    t5 = []
    for positions in TABLE5_ROWS:
        model = build_classifier("mobilenet_v2", width_mult=0.5, dynamic=bool(positions), dynamic_positions=positions)
        cells = tuple(4 if p in positions else 1 for p in DYNAMIC_POSITIONS)
        t5.append({"cells": cells, "complexity": count_complexity(model, 224)})
    t7 = []
    for dynamic, se in TABLE7_ROWS:
        model = build_classifier("mobilenet_v3_small", dynamic=dynamic, se=se)
        label = ("DY-" if dynamic else "") + "MobileNetV3-Small" + ("" if se else " w/o SE")
        t7.append({"label": label, "complexity": count_complexity(model, 224)})
    return {"table5": t5, "table7": t7}


def build_pose_row(row: PoseRow, first_expand: bool = False) -> PoseNet:
    """The PoseNet of a Table 10 row (K = 4 where dynamic); ``first_expand`` builds a Type-B
    head as Table 9 reads literally."""
    options = {"width_mult": row.width_mult} if row.backbone == "mobilenet_v2" else {}
    backbone = BACKBONES.get(row.backbone)(dynamic=row.dynamic, num_kernels=4, **options)
    head_options = {"first_expand": True} if first_expand else {}
    head = HEADS.get(row.head)(backbone.out_channels, 17, dynamic=row.head_dynamic, num_kernels=4, **head_options)
    return PoseNet(backbone, head)


def table10_rows() -> List[Dict]:
    """Table 10 rows: backbone and head params/MAdds, ours and paper, at 256x192."""
    rows = []
    for row in PAPER_TABLE10:
        model = build_pose_row(row)
        parts = pose_complexity(model, POSE_INPUT)
        deconv_true = sum(_deconv_madds(model.head).values())
        backbone = parts["backbone"]
        backbone = Complexity(backbone.params * M / param_unit(row.backbone), backbone.madds)
        rows.append({"row": row, "backbone": backbone, "head": parts["head"],
                     "head_in_channels": model.backbone.out_channels,
                     "rel_bb_params": rel(backbone.params, row.backbone_params),
                     "rel_bb_madds": rel(parts["backbone"].madds, row.backbone_madds),
                     "rel_head_params": rel(parts["head"].params, row.head_params),
                     "rel_head_madds": rel(parts["head"].madds, row.head_madds),
                     "tolerance": tolerance(row.backbone),
                     "deconv_madds": deconv_true,
                     "literal": (pose_complexity(build_pose_row(row, first_expand=True), POSE_INPUT)["head"]
                                 if row.head == "upsample_bneck" else None)})
    return rows


def _deconv_madds(head: nn.Module) -> Dict[str, int]:
    """True MAdds of each transposed convolution of a head at 256x192 (input 8x6, x2 per layer)."""
    out = {}
    h, w = POSE_INPUT[1] // 32, POSE_INPUT[0] // 32
    for name, m in head.named_modules():
        if isinstance(m, nn.ConvTranspose2d):
            # A shape-only input: the count needs its size, not its values.
            out[name] = conv_transpose_madds(m, torch.empty(1, m.in_channels, h, w, device="meta"))
            h, w = 2 * h, 2 * w
    return out


def type_a_alternatives() -> Dict[str, float]:
    """Counts of the SimpleBaseline head under other readings, to explain Table 10's 8.4M / 5.4G.

    Returns params and MAdds of the head for a 2048-channel input (ResNet-50, SimpleBaseline's
    own backbone) under true-cost counting and under "output pixels x weights" counting, plus
    the parameters of its first deconvolution alone.
    """
    from .heads.deconv import DeconvHead
    head = DeconvHead(2048, 17)
    deconv = _deconv_madds(head)
    final = 256 * 17 * (POSE_INPUT[0] // 4) * (POSE_INPUT[1] // 4)
    first = head.deconv[0]
    return {"params": sum(p.numel() for p in head.parameters()),
            "first_deconv_params": first.weight.numel(),
            "madds_true": sum(deconv.values()) + final,
            "madds_output_pixels": 4 * sum(deconv.values()) + final}


def mobilenet_v2_pose_readings() -> Dict[str, "Complexity"]:
    """Static MobileNetV2 x1.0 pose backbone at 256x192 with and without the final 1x1 conv to 1280."""
    backbone = BACKBONES.get("mobilenet_v2")(dynamic=False)
    with_last = count_complexity(backbone, POSE_INPUT)
    last = backbone.features[-1]
    h, w = POSE_INPUT[1] // 32, POSE_INPUT[0] // 32
    last_madds = h * w * last[0].in_channels * last[0].out_channels
    return {"with": with_last,
            "without": Complexity(with_last.params - sum(p.numel() for p in last.parameters()),
                                  with_last.madds - last_madds)}
