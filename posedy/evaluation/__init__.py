"""Evaluation: inference with flip test, decoding to image coordinates, rescoring, OKS-NMS,
results files and the COCO metric. ``evaluate`` (in ``evaluator.py``) runs them in order."""

from posedy.evaluation.coco_eval import METRIC_NAMES, evaluate_coco_keypoints, format_metrics_table
from posedy.evaluation.decode import decode_to_image
from posedy.evaluation.evaluator import (EvalSettings, Evaluation, EvaluationError, build_eval_settings, evaluate,
                                         evaluate_predictions, predict_dataset)
from posedy.evaluation.flip import average_with_flipped, flip_back
from posedy.evaluation.inference import OnnxPoseRunner, predict, predict_boxes
from posedy.evaluation.nms import oks_matrix, oks_nms, oks_nms_grouped, oks_one_to_many
from posedy.evaluation.rescore import rescore
from posedy.evaluation.rescore_nms import select_final_poses
from posedy.evaluation.results import load_keypoint_results, write_json_atomic, write_keypoint_results

__all__ = [
    "METRIC_NAMES", "EvalSettings", "Evaluation", "EvaluationError", "OnnxPoseRunner", "average_with_flipped",
    "build_eval_settings", "decode_to_image", "evaluate", "evaluate_coco_keypoints", "evaluate_predictions",
    "flip_back", "format_metrics_table", "load_keypoint_results", "oks_matrix", "oks_nms", "oks_nms_grouped",
    "oks_one_to_many", "predict", "predict_boxes", "predict_dataset", "rescore", "select_final_poses",
    "write_json_atomic", "write_keypoint_results",
]
