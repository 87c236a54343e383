"""ImageNet classifiers around the pose backbones, to compare with the paper's Tables 1, 5, 7, 8.

A classifier is the backbone (stride-32 features), global average pooling, and a small head:
dropout and a linear layer, with MobileNetV3's extra 1024-wide h-swish layer before it. The
linear layers are static; the paper makes only convolutions dynamic.
"""

from dataclasses import dataclass
from typing import Sequence

from torch import nn

from posedy import architectures
from posedy.architectures import DYNAMIC_POSITIONS

from . import backbones  # noqa: F401  (registers the backbones)
from .registry import BACKBONES, architecture_options


@dataclass(frozen=True)
class ClassifierHead:
    """Layers after pooling: optional hidden linear layer with h-swish, dropout, linear."""
    hidden: int = 0
    dropout: float = 0.0


# Dropout before the last layer as in the DY paper Section 5.1 (0.2 for MobileNetV2 x1.0 and
# MobileNetV3, 0.1 for ResNet-18); MobileNetV3-Small's 1024-wide layer is its Table 2's last
# 1x1 conv before the classifier. Parameters do not depend on these rates.
CLASSIFIER_HEADS = {
    "mobilenet_v2": ClassifierHead(dropout=0.2),
    "mobilenet_v3_small": ClassifierHead(hidden=1024, dropout=0.2),
    "resnet18": ClassifierHead(dropout=0.1),
    "resnet10": ClassifierHead(dropout=0.1),
}


class Classifier(nn.Module):
    """backbone -> global average pool -> [linear -> h-swish] -> dropout -> linear.

    Shapes: (N, 3, H, W) -> (N, num_classes) logits.
    """

    def __init__(self, backbone: nn.Module, num_classes: int = 1000, head: ClassifierHead = ClassifierHead()):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        layers = []
        width = backbone.out_channels
        if head.hidden:
            layers += [nn.Linear(width, head.hidden), nn.Hardswish(inplace=True)]
            width = head.hidden
        layers += [nn.Dropout(head.dropout), nn.Linear(width, num_classes)]
        self.classifier = nn.Sequential(*layers)
        for m in self.classifier.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.pool(self.backbone(x)).flatten(1))


def build_classifier(name: str, num_classes: int = 1000, *, width_mult: float = 1.0, dynamic: bool = True,
                     num_kernels: int = 4, depth_mult: float = 1.0, se: bool = True,
                     dynamic_positions: Sequence[str] = DYNAMIC_POSITIONS, temperature: float = 30.0,
                     attention: str = "softmax") -> Classifier:
    """(DY-)classifier ``name`` (one of ``mobilenet_v2``, ``mobilenet_v3_small``, ``resnet18``,
    ``resnet10``). ``width_mult``, ``depth_mult`` and ``dynamic_positions`` apply to MobileNetV2,
    ``se`` to MobileNetV3-Small; giving a non-default value to a model without it is an error.

    Raises:
        KeyError: unknown name (the message lists the registered ones).
        ValueError: an option the model does not take.
    """
    if name not in CLASSIFIER_HEADS:
        raise KeyError(f"unknown classifier {name!r}; available: {', '.join(sorted(CLASSIFIER_HEADS))}")
    settings = dict(width_mult=width_mult, depth_mult=depth_mult, se=se, dynamic_positions=tuple(dynamic_positions))
    options = architecture_options(architectures.BACKBONES, f"classifier {name}", name, settings)
    backbone = BACKBONES.get(name)(dynamic=dynamic, num_kernels=num_kernels, temperature=temperature,
                                   attention=attention, **options)
    return Classifier(backbone, num_classes, CLASSIFIER_HEADS[name])
