"""Visualisation: poses, boxes and charts drawn with OpenCV."""

from posedy.vis.draw import (COCO_LIMB_COLORS, bar_chart, draw_box, draw_pose, joint_colors, put_title,
                             side_by_side)

__all__ = ["COCO_LIMB_COLORS", "bar_chart", "draw_box", "draw_pose", "joint_colors", "put_title",
           "side_by_side"]
