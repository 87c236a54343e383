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
