"""Visualisation: poses, boxes and charts drawn with OpenCV."""

from posedy.vis.draw import (COCO_LIMB_COLORS, SIDE_LEGEND, bar_chart, draw_box, draw_legend, draw_pose,
                             joint_colors, put_title, side_by_side)
from posedy.vis.render import (compare_with_ground_truth, draw_ground_truth, draw_predictions, draw_results,
                               group_results_by_image, pose_boxes)

__all__ = ["COCO_LIMB_COLORS", "SIDE_LEGEND", "bar_chart", "compare_with_ground_truth", "draw_box",
           "draw_ground_truth", "draw_legend", "draw_pose", "draw_predictions", "draw_results",
           "group_results_by_image", "joint_colors", "pose_boxes", "put_title", "side_by_side"]
