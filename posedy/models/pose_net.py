"""Top-down pose network: a stride-32 backbone and a heatmap head, built from ``ModelConfig``."""

from torch import nn

from posedy import architectures
from posedy.config import BackboneConfig, ConfigError, HeadConfig, ModelConfig
from posedy.layers.dynamic_conv import copy_first_kernel

from . import backbones, heads  # noqa: F401  (registers the backbones and heads)
from .registry import BACKBONES, HEADS, architecture_options


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


def build_backbone(cfg: BackboneConfig, *, temperature: float = 30.0, attention: str = "softmax") -> nn.Module:
    """Backbone named by ``cfg.name`` with the settings it takes (``posedy.architectures``) as
    explicit keyword arguments."""
    try:
        builder = BACKBONES.get(cfg.name)
        options = architecture_options(architectures.BACKBONES, f"backbone {cfg.name}", cfg.name, cfg.settings())
        return builder(dynamic=cfg.dynamic, num_kernels=cfg.num_kernels, temperature=temperature,
                       attention=attention, **options)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"model.backbone: {exc.args[0]}") from None


def build_head(cfg: HeadConfig, in_channels: int, num_joints: int, *, temperature: float = 30.0,
               attention: str = "softmax") -> nn.Module:
    """Head named by ``cfg.name`` for a backbone with ``in_channels`` output channels."""
    try:
        builder = HEADS.get(cfg.name)
        options = architecture_options(architectures.HEADS, f"head {cfg.name}", cfg.name, cfg.settings())
        return builder(in_channels, num_joints, dynamic=cfg.dynamic, num_kernels=cfg.num_kernels,
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
    model = PoseNet(backbone, head)
    if cfg.kernel_init == "copies":
        copy_first_kernel(model)
    return model
