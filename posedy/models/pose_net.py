"""Top-down pose network: a stride-32 backbone and a heatmap head, built from ``ModelConfig``."""

import inspect
from typing import Callable

from torch import nn

from posedy.config import BackboneConfig, ConfigError, HeadConfig, ModelConfig

from . import backbones, heads  # noqa: F401  (registers the backbones and heads)
from .registry import BACKBONES, HEADS


class PoseNet(nn.Module):
    """``head(backbone(image))``.

    Attributes:
        backbone: module with ``out_channels``; (N, 3, H, W) -> (N, C, H / 32, W / 32).
        head: (N, C, H / 32, W / 32) -> (N, num_joints, H / 4, W / 4).
    Shapes: (N, 3, H, W) float -> (N, num_joints, H / 4, W / 4) float heatmaps.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(self.backbone(x))


def call_with_options(builder: Callable, what: str, options: dict, defaults: dict):
    """Call ``builder(**options)`` passing only the options its signature takes.

    An option the builder does not take is an error unless it is at its default, so a
    setting that means nothing for this model (``se`` for a ResNet) is not silently dropped.
    """
    accepted = inspect.signature(builder).parameters
    kwargs = {}
    for key, value in options.items():
        if key in accepted:
            kwargs[key] = value
        elif value != defaults[key]:
            raise ValueError(f"{what} does not take {key} (got {value!r}); it takes {', '.join(accepted)}")
    return builder(**kwargs)


_BACKBONE_DEFAULTS = {f: BackboneConfig.__dataclass_fields__[f].default
                      for f in ("width_mult", "depth_mult", "se", "dynamic_positions")}


def build_backbone(cfg: BackboneConfig, *, temperature: float = 30.0, attention: str = "softmax") -> nn.Module:
    """Backbone named by ``cfg.name`` with the config's settings as explicit keyword arguments."""
    options = dict(width_mult=cfg.width_mult, depth_mult=cfg.depth_mult, se=cfg.se,
                   dynamic_positions=tuple(cfg.dynamic_positions))
    common = dict(dynamic=cfg.dynamic, num_kernels=cfg.num_kernels, temperature=temperature, attention=attention)
    try:
        return call_with_options(BACKBONES.get(cfg.name), f"backbone {cfg.name}",
                                 {**common, **options}, {**common, **_BACKBONE_DEFAULTS})
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"model.backbone: {exc.args[0]}") from None


def build_head(cfg: HeadConfig, in_channels: int, num_joints: int, *, temperature: float = 30.0,
               attention: str = "softmax") -> nn.Module:
    """Head named by ``cfg.name`` for a backbone with ``in_channels`` output channels."""
    try:
        options = {"width_mult": cfg.width_mult} if cfg.width_mult != 1.0 else {}
        if cfg.first_expand:
            options["first_expand"] = True
        return HEADS.get(cfg.name)(in_channels, num_joints, dynamic=cfg.dynamic, num_kernels=cfg.num_kernels,
                                   temperature=temperature, attention=attention, **options)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"model.head: {exc.args[0]}") from None


def build_pose_model(cfg: ModelConfig) -> PoseNet:
    """PoseNet from a validated ``ModelConfig``.

    Raises:
        ConfigError: a setting the named backbone or head does not support.
    """
    backbone = build_backbone(cfg.backbone, temperature=cfg.temperature, attention=cfg.attention)
    head = build_head(cfg.head, backbone.out_channels, cfg.num_joints, temperature=cfg.temperature,
                      attention=cfg.attention)
    return PoseNet(backbone, head)
