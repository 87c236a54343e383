"""tools/inspect_attention.py's plot: layers named by index, stage and input size; AP bars carry their values."""

import cv2
import numpy as np

from posedy.vis.draw import bar_chart
from tool_modules import load_tool

inspect_attention = load_tool("inspect_attention")


def _stat(layer, hw, entropy=0.5, max_weight=0.6):
    return {"layer": layer, "input_hw": hw, "entropy_norm": entropy, "max_weight": max_weight}


def test_layer_labels_name_the_stage_and_the_input_size():
    label = inspect_attention._layer_label
    assert label(3, _stat("backbone.features.3.conv.0.0", [32, 24])) == "3 bb 32x24"
    assert label(17, _stat("head.blocks.0.conv.1.0", [8, 6])) == "17 hd 8x6"
    assert label(0, _stat("neck.conv", [])) == "0 ne ?"


def test_plot_writes_the_panels_with_named_layers_and_labelled_ap_bars(tmp_path):
    stats = [_stat("backbone.features.1.conv.0.0", [64, 48], 0.9, 0.3),
             _stat("head.blocks.0.conv.1.0", [16, 12], 0.4, 0.8)]
    modes = {"attention": 0.633, "average": 0.030}
    path = tmp_path / "attention.png"
    inspect_attention._plot(stats, modes, path)
    picture = cv2.imread(str(path))
    assert picture.shape == (260 + 260 + 200 + 260, 640, 3)
    labels = ["0 bb 64x48", "1 hd 16x12"]
    entropy = bar_chart([0.9, 0.4], labels, size=(640, 260), value_range=(0, 1),
                        title="normalised attention entropy per dynamic layer (1 = flat, 0 = one kernel)")
    np.testing.assert_array_equal(picture[:260], entropy)  # PNG is lossless
    ap = picture[-260:]
    unlabelled = bar_chart([0.633, 0.030], list(modes), size=(640, 260), value_range=(0, 1), color=(40, 90, 220),
                           title="AP by kernel aggregation (Table 3)")
    changed = np.flatnonzero((ap != unlabelled).any(axis=2).any(axis=1))
    # The values are written just above the bars: the taller (0.633) bar's top is at row
    # 28 + 192 * (1 - 0.633) (28 px of title above a 192 px plot); nothing changes higher up.
    top = 28 + int(192 * (1 - 0.633))
    assert changed.size and top - 16 <= changed.min() < top
    assert np.array_equal(ap, bar_chart([0.633, 0.030], list(modes), size=(640, 260), value_range=(0, 1),
                                        color=(40, 90, 220), title="AP by kernel aggregation (Table 3)",
                                        value_format="{:.3f}"))
