"""Visualisation: poses, boxes and charts drawn with OpenCV."""

from posedy.vis.draw import (COCO_LIMB_COLORS, bar_chart, draw_box, draw_pose, joint_colors, put_title,
                             side_by_side)
from posedy.vis.render import (compare_with_ground_truth, draw_ground_truth, draw_predictions,
                               group_results_by_image)

__all__ = ["COCO_LIMB_COLORS", "bar_chart", "compare_with_ground_truth", "draw_box", "draw_ground_truth",
           "draw_pose", "draw_predictions", "group_results_by_image", "joint_colors", "put_title",
           "side_by_side"]
