"""The architectures a config may name, and which settings each one takes: one table.

``config`` validates against it and the builders (``models.pose_net``, ``models.classifier``,
the registries) consult it, so a rule such as "only MobileNetV2 has a depth multiplier" is
written once. Plain data with no torch import: it sits beside ``config`` at the bottom of the
import graph.
"""

from dataclasses import dataclass

# MobileNetV2 bottleneck convolutions that can be dynamic (Table 5: C1 expand, C2 depthwise,
# C3 project).
DYNAMIC_POSITIONS = ("expand", "depthwise", "project")

# What each architecture-specific setting is, for "only X has ..." errors, and its default
# (the value an architecture without the setting accepts).
SETTINGS = {
    "width_mult": ("a width multiplier", 1.0),
    "depth_mult": ("a depth multiplier", 1.0),
    "dynamic_positions": ("per-block positions", DYNAMIC_POSITIONS),
    "se": ("squeeze-and-excitation to drop", True),
    "first_expand": ("a first expansion", False),
}


@dataclass(frozen=True)
class Architecture:
    """One backbone or head.

    Attributes:
        settings: the keys of ``SETTINGS`` it takes; any other must stay at its default.
        widths: the ``width_mult`` values it is defined for (None: any in (0, 1]).
        static_reason: why it has no dynamic form (None: it has one).
    """
    settings: tuple = ()
    widths: tuple = None
    static_reason: str = None


BACKBONES = {
    "mobilenet_v2": Architecture(("width_mult", "depth_mult", "dynamic_positions"), widths=(1.0, 0.75, 0.5, 0.35)),
    "mobilenet_v3_small": Architecture(("se",)),
    "resnet18": Architecture(),
    "resnet10": Architecture(),
}

HEADS = {
    "deconv": Architecture(static_reason="the deconv (Type-A) head is static only (the paper makes only the "
                                         "backbone dynamic for Type-A); use upsample_bneck for a dynamic head"),
    "upsample_bneck": Architecture(("width_mult", "first_expand")),
}


def owners(table: dict, setting: str) -> list:
    """Names in ``table`` that take ``setting``."""
    return [name for name, arch in table.items() if setting in arch.settings]


def unsupported_settings(table: dict, name: str, values: dict) -> list:
    """``(setting, value)`` pairs of ``values`` that ``name`` does not take and that are not at
    their default, in ``values``' order; ``name`` must be in ``table``."""
    taken = table[name].settings
    return [(key, value) for key, value in values.items()
            if key not in taken and _normalised(value) != _normalised(SETTINGS[key][1])]


def _normalised(value):
    return tuple(value) if isinstance(value, list) else value
