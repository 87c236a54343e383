"""The same kinds of bad input through the smaller tools: one 'error:' line, non-zero exit."""

from reliability_helpers import error_line, load_tool


def test_complexity_unknown_backbone_lists_the_valid_ones(experiment, capsys):
    rc = load_tool("complexity").main([str(experiment), "--opts", "model.backbone.name=vgg16"])
    assert rc == 2
    assert error_line(capsys) == (f"error: {experiment}: model.backbone.name: 'vgg16' is not one of "
                                  f"mobilenet_v2, mobilenet_v3_small, resnet18, resnet10")


def test_complexity_unknown_classifier(capsys):
    rc = load_tool("complexity").main(["--classifier", "vgg16"])
    assert rc == 2
    assert error_line(capsys) == ("error: unknown classifier 'vgg16'; available: mobilenet_v2, "
                                  "mobilenet_v3_small, resnet10, resnet18")


def test_visualize_image_that_is_not_an_image(experiment, checkpoint, tmp_path, capsys):
    not_image = tmp_path / "photo.jpg"
    not_image.write_text("{}")
    rc = load_tool("visualize").main([str(experiment), "--checkpoint", str(checkpoint), "--image", str(not_image),
                                      "--out", str(tmp_path / "vis")])
    assert rc == 1
    assert error_line(capsys) == f"error: {not_image}: missing or not a decodable image"


def test_browse_dataset_bad_annotation_file(experiment, tmp_path, capsys):
    ann = tmp_path / "ann.json"
    ann.write_text("[1, 2")
    rc = load_tool("browse_dataset").main([str(experiment), "--out", str(tmp_path / "crops"),
                                           "--opts", f"data.train_ann={ann}"])
    assert rc == 1
    assert error_line(capsys) == f"error: {ann}: not valid JSON (line 1, column 6: Expecting ',' delimiter)"
