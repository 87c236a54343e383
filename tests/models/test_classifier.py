import pytest
import torch
from torch import nn

from posedy.layers import DynamicConv2d
from posedy.models import build_classifier


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "resnet18", "resnet10"])
def test_classifier_output_and_static_linear_layers(name):
    torch.manual_seed(0)
    model = build_classifier(name, num_classes=10, dynamic=True, num_kernels=2).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert isinstance(model.classifier[-1], nn.Linear)
    assert any(isinstance(m, DynamicConv2d) for m in model.backbone.modules())


def test_mobilenet_v3_small_classifier_has_1024_hidden_layer():
    model = build_classifier("mobilenet_v3_small", dynamic=False)
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(576, 1024), (1024, 1000)]


def test_unknown_classifier_lists_names():
    with pytest.raises(KeyError, match="available: mobilenet_v2, mobilenet_v3_small, resnet10, resnet18"):
        build_classifier("vgg16")
