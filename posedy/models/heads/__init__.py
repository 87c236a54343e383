"""Pose heads; importing this package registers each one in ``posedy.models.registry.HEADS``."""

from . import deconv, upsample_bneck
from .deconv import DeconvHead
from .upsample_bneck import UpsampleBneckHead

__all__ = ["DeconvHead", "UpsampleBneckHead", "deconv", "upsample_bneck"]
