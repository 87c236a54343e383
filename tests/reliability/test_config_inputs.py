"""Bad experiment YAML: one 'error:' line naming the file and the dotted key, exit 2.

Driven through ``tools/train.py``'s ``main`` in-process (the same ``load_experiment`` serves
every tool); one case runs a real process to check the exit status of the process itself.
"""

import pytest

from reliability_helpers import error_line, log_line, run_cli

# (row id, YAML text or override, expected fragment of the message)
CASES = {
    "unknown_key": (["model.backbone.widht_mult=0.5"],
                    "model.backbone.widht_mult: unknown key; valid keys: name, width_mult"),
    "wrong_type": (["train.batch_size=eight"], "train.batch_size: expected an integer, got str 'eight'"),
    "unknown_backbone": (["model.backbone.name=mobilenet_v4"],
                         "model.backbone.name: 'mobilenet_v4' is not one of mobilenet_v2, mobilenet_v3_small, "
                         "resnet18, resnet10"),
    "unknown_head": (["model.head.name=typeC"], "model.head.name: 'typeC' is not one of deconv, upsample_bneck"),
    "negative_sigma": (["data.sigma=-1"], "data.sigma: must be positive, got -1.0"),
    "zero_batch_size": (["train.batch_size=0"], "train.batch_size: must be >= 1, got 0"),
    "width_mult_not_supported": (["model.backbone.width_mult=0.6"],
                                 "model.backbone.width_mult: 0.6 is not one of 1.0, 0.75, 0.5, 0.35"),
    "heatmap_size_mismatch": (["data.heatmap_size=[32,32]"],
                              "data.heatmap_size: [32, 32] does not match the head's output [16, 16]"),
    "image_size_not_multiple_of_32": (["data.image_size=[48,64]", "data.heatmap_size=[12,16]"],
                                      "data.image_size: [48, 64] must be multiples of 32"),
    "bad_override_syntax": (["train.lr"], "override 'train.lr': expected KEY=VALUE"),
    "moved_key": (["data.scale_factor=0.3"],
                  "data.scale_factor: moved to data.augment.scale_factor; write it under data.augment"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_value_is_one_line_with_the_dotted_key(case, train_tool, experiment, tmp_path, capsys):
    opts, expected = CASES[case]
    rc = train_tool.main([str(experiment), "--work-dir", str(tmp_path / "w"), "--opts", *opts])
    line = error_line(capsys)
    assert rc == 2
    assert expected in line, line
    if case != "bad_override_syntax":
        assert str(experiment) in line  # names the file
    assert not (tmp_path / "w").exists()  # nothing created before the config is valid


def test_missing_required_field(train_tool, experiment, tmp_path, capsys):
    experiment.write_text(experiment.read_text().replace("  head: {name: upsample_bneck}\n", ""))
    rc = train_tool.main([str(experiment), "--work-dir", str(tmp_path / "w")])
    assert rc == 2
    assert f"error: {experiment}: model.head: required field missing" == error_line(capsys)


def test_file_that_is_not_yaml(train_tool, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("model: {backbone: [unclosed\n  head: x\n")
    rc = train_tool.main([str(path), "--work-dir", str(tmp_path / "w")])
    assert rc == 2
    assert error_line(capsys) == f"error: {path}: not valid YAML at line 2"


def test_yaml_that_is_not_a_mapping(train_tool, tmp_path, capsys):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    rc = train_tool.main([str(path), "--work-dir", str(tmp_path / "w")])
    assert rc == 2
    assert error_line(capsys) == f"error: {path}: expected a YAML mapping at the top level, got list"


def test_binary_file_as_config(train_tool, tmp_path, capsys):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04\xff\xfe\x00\x81binary")
    rc = train_tool.main([str(path), "--work-dir", str(tmp_path / "w")])
    assert rc == 2
    assert error_line(capsys) == f"error: {path}: cannot read (UnicodeDecodeError)"


def test_config_path_that_does_not_exist_real_process(tmp_path):
    missing = tmp_path / "nope.yaml"
    proc = run_cli("train", missing, "--work-dir", tmp_path / "w")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {missing}: no such file"
    log_line(proc.stderr.strip())
    assert proc.stdout == ""
