import pytest

from posedy.models.registry import BACKBONES, Registry


def test_duplicate_name_is_an_error():
    reg = Registry("thing")
    reg.register("a")(lambda: 1)
    with pytest.raises(KeyError, match="'a' is already registered"):
        reg.register("a")(lambda: 2)


def test_unknown_name_lists_what_exists():
    with pytest.raises(KeyError, match="unknown backbone 'resnet50'; registered: mobilenet_v2, mobilenet_v3_small, "
                                       "resnet10, resnet18"):
        BACKBONES.get("resnet50")
