import pytest

from posedy.config import MOVED_KEYS, ConfigError, config_from_dict, config_to_dict, migrate_stored_config

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


def test_augment_section_is_nested_and_validated():
    cfg = config_from_dict(BASE, ["data.augment.scale_factor=0.25", "data.augment.flip=false"])
    assert cfg.data.augment.scale_factor == 0.25 and cfg.data.augment.flip is False
    assert cfg.data.augment.rotation_factor == 45.0  # the rest keeps HRNet's defaults
    with pytest.raises(ConfigError, match=r"data.augment.flip_prob: must be a probability in \[0, 1\], got 1.5"):
        config_from_dict(BASE, ["data.augment.flip_prob=1.5"])
    with pytest.raises(ConfigError, match="data.augment.rotation_factor: must be >= 0, got -1.0"):
        config_from_dict(BASE, ["data.augment.rotation_factor=-1"])
    with pytest.raises(ConfigError, match="data.augment.scale: unknown key; valid keys: scale_factor, "):
        config_from_dict(BASE, ["data.augment.scale=0.3"])


@pytest.mark.parametrize("key", sorted(MOVED_KEYS))
def test_an_old_flat_key_names_its_new_place(key):
    tree = {**BASE, "data": {key.split(".")[1]: 0}}
    with pytest.raises(ConfigError) as info:
        config_from_dict(tree)
    assert str(info.value) == f"{key}: moved to {MOVED_KEYS[key]}; write it under data.augment"


def test_a_stored_flat_config_is_migrated():
    nested = config_to_dict(config_from_dict(BASE, ["data.augment.scale_factor=0.25", "data.augment.flip=false",
                                                    "data.augment.photometric=true", "data.sigma=3.0"]))
    # The layout a checkpoint of an older version holds: augmentation keys directly under data.
    flat = {**nested, "data": {k: v for k, v in nested["data"].items() if k != "augment"}}
    flat["data"].update(nested["data"]["augment"])
    migrated = migrate_stored_config(flat)
    assert migrated == nested and "augment" not in flat["data"]  # the argument is not modified
    assert migrate_stored_config(nested) == nested
    # An old key beside its new place is left for loading to report.
    both = {**nested, "data": {**nested["data"], "flip": True}}
    with pytest.raises(ConfigError, match="data.flip: moved to data.augment.flip"):
        config_from_dict(migrate_stored_config(both))
