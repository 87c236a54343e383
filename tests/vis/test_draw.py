import numpy as np

from posedy.vis.draw import (COCO_LIMB_COLORS, LEFT_JOINT_COLOR, RIGHT_JOINT_COLOR, bar_chart, draw_pose,
                             joint_colors, side_by_side)


def _pose():
    kps = np.zeros((17, 3))
    kps[5] = [20.0, 20.0, 0.9]   # left shoulder
    kps[7] = [20.0, 60.0, 0.8]   # left elbow: limb (5, 7) is skeleton entry 8
    kps[6] = [60.0, 20.0, 0.1]   # right shoulder, below the threshold: hidden
    kps[8] = [60.0, 60.0, 0.9]   # right elbow: its limb to 6 is hidden with it
    return kps


def test_draw_pose_colours_and_hidden_joints():
    image = np.zeros((80, 80, 3), dtype=np.uint8)
    out = draw_pose(image, _pose(), threshold=0.3, radius=3, thickness=3)
    assert image.max() == 0  # input untouched
    assert tuple(out[20, 20]) == LEFT_JOINT_COLOR
    assert tuple(out[60, 60]) == RIGHT_JOINT_COLOR
    assert tuple(out[40, 20]) == COCO_LIMB_COLORS[8]  # middle of the shoulder-elbow limb
    assert out[20, 60].max() == 0 and out[40, 60].max() == 0  # hidden joint, hidden limb
    assert len(set(COCO_LIMB_COLORS)) == len(COCO_LIMB_COLORS)
    colors = joint_colors()
    assert colors[1] == LEFT_JOINT_COLOR and colors[2] == RIGHT_JOINT_COLOR


def test_side_by_side_and_bar_chart_shapes():
    a, b = np.full((10, 4, 3), 50, np.uint8), np.full((6, 3, 3), 90, np.uint8)
    out = side_by_side([a, b], gap=2)
    assert out.shape == (10, 9, 3)
    assert out[0, 6, 0] == 90 and out[8, 6, 0] == 0 and out[0, 4, 0] == 0
    chart = bar_chart([0.2, 0.9], ["a", "b"], title="t", size=(200, 120), value_range=(0, 1))
    assert chart.shape == (120, 200, 3)
    # The taller bar colours more pixels than the shorter one.
    bar = np.all(chart == (200, 140, 40), axis=2)
    assert bar[:, :124].sum() < bar[:, 124:].sum()


def test_line_chart_draws_each_series_in_its_colour_and_says_when_empty():
    import numpy as np

    from posedy.vis.draw import line_chart

    chart = line_chart({"a": ([0, 1, 2], [1.0, None, 3.0]), "b": ([0, 2], [2.0, float("nan")])},
                       title="t", size=(200, 120))
    assert chart.shape == (120, 200, 3) and chart.dtype == np.uint8
    assert (chart != 255).any(axis=2).sum() > 200
    empty = line_chart({"a": ([], [])}, size=(200, 120), empty_text="nothing")
    log_empty = line_chart({"a": ([1], [-1.0])}, size=(200, 120), log_y=True, empty_text="nothing")
    assert np.array_equal(empty, log_empty)  # non-positive values are dropped on a log axis


def test_bar_values_are_written_above_the_bars():
    from posedy.vis.draw import bar_chart

    plain = bar_chart([0.2, 0.9], ["a", "b"], size=(200, 120), value_range=(0, 1))
    labelled = bar_chart([0.2, 0.9], ["a", "b"], size=(200, 120), value_range=(0, 1), value_format="{:.2f}")
    assert (plain != labelled).any()


def test_legend_shows_the_left_and_right_colours_in_the_bottom_left_corner():
    from posedy.vis.draw import draw_legend

    image = np.full((200, 300, 3), 128, np.uint8)
    out = draw_legend(image)
    assert image.min() == 128  # input untouched
    corner, rest = out[150:, :150], out[:100]
    assert (rest == 128).all()  # only the corner changes
    assert np.all(corner == LEFT_JOINT_COLOR, axis=2).sum() > 10
    assert np.all(corner == RIGHT_JOINT_COLOR, axis=2).sum() > 10
    assert np.all(corner == (0, 0, 0), axis=2).sum() > 100  # the dark band under the key
    # Left is written first, so its dot is left of the right one.
    left_x = np.flatnonzero(np.all(corner == LEFT_JOINT_COLOR, axis=2).any(axis=0))
    right_x = np.flatnonzero(np.all(corner == RIGHT_JOINT_COLOR, axis=2).any(axis=0))
    assert left_x.max() < right_x.min()
    tiny = np.full((30, 30, 3), 128, np.uint8)
    assert np.array_equal(draw_legend(tiny), tiny)  # no room: unchanged
