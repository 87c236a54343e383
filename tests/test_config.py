import pytest

from posedy.config import ConfigError, config_from_dict, config_to_dict

BASE = {"model": {"backbone": {"name": "mobilenet_v2"}, "head": {"name": "upsample_bneck"}}}


def test_overrides_use_dotted_keys_and_yaml_values():
    cfg = config_from_dict(BASE, ["train.lr=0.002", "data.image_size=[96, 128]", "data.heatmap_size=[24, 32]"])
    assert cfg.train.lr == 0.002 and cfg.data.image_size == (96, 128)


def test_yaml11_exponent_without_dot_is_a_number():
    assert config_from_dict(BASE, ["train.lr=1e-3"]).train.lr == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match="train.lr: expected a number, got str 'fast'"):
        config_from_dict(BASE, ["train.lr=fast"])


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"train.lrr: unknown key; valid keys: epochs, batch_size"):
        config_from_dict(BASE, ["train.lrr=1"])


def test_round_trip_through_plain_dict():
    cfg = config_from_dict(BASE)
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_fidelity_options_default_to_hrnet_and_are_validated():
    cfg = config_from_dict(BASE)
    assert (cfg.data.target_encoding, cfg.data.gt_box_rule) == ("hrnet", "hrnet")
    assert (cfg.test.clip_det_boxes, cfg.test.nms_tie_order) == (False, "hrnet")
    cfg = config_from_dict(BASE, ["data.target_encoding=subpixel", "data.gt_box_rule=mmpose",
                                  "test.clip_det_boxes=true", "test.nms_tie_order=stable"])
    assert (cfg.data.target_encoding, cfg.data.gt_box_rule, cfg.test.nms_tie_order) == ("subpixel", "mmpose", "stable")
    for override, message in (("data.target_encoding=dark", "data.target_encoding: 'dark' is not one of hrnet, subpixel"),
                              ("data.gt_box_rule=clip", "data.gt_box_rule: 'clip' is not one of hrnet, mmpose"),
                              ("test.nms_tie_order=input", "test.nms_tie_order: 'input' is not one of hrnet, stable"),
                              ("test.clip_det_boxes=1", "test.clip_det_boxes: expected a boolean")):
        with pytest.raises(ConfigError, match=message):
            config_from_dict(BASE, [override])
