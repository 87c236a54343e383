"""The COCO keypoint metric: a thin wrapper over pycocotools' ``COCOeval``."""

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posedy.data.coco import PERSON_CATEGORY_ID, load_coco
from posedy.evaluation.results import load_keypoint_results

# Names of COCOeval.stats[0:10] for iouType="keypoints", in order.
METRIC_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")


def evaluate_coco_keypoints(ann, results, *, image_ids=None, print_table: bool = False,
                            verbose: bool = False) -> dict:
    """COCO keypoint AP/AR of a results file against ground truth.

    Args:
        ann: annotation file path or a pycocotools ``COCO`` object.
        results: results file path (COCO keypoint results format) or the loaded list.
        image_ids: evaluate on these images only (default: every image of ``ann``), e.g.
            when predictions cover a subset of the validation set.
        print_table: print ``format_metrics_table`` of the result.
        verbose: let pycocotools print its progress and summary.
    Returns:
        dict with exactly the keys of ``METRIC_NAMES`` (floats in [0, 1]; pycocotools
        reports -1 where no ground truth falls in a category). An empty results list
        scores 0 everywhere (pycocotools cannot load one).
    Raises:
        ValueError: one line naming the file when annotations or results are unusable
        (annotation files are read and validated by ``posedy.data.coco.load_coco``).
    """
    coco = ann if isinstance(ann, COCO) else load_coco(ann, for_evaluation=True)
    if isinstance(results, (str, Path)):
        name = str(results)
        dets = load_keypoint_results(results)
    else:
        name = "results"
        dets = list(results)
    if not dets:
        metrics = {k: 0.0 for k in METRIC_NAMES}
        if print_table:
            print(format_metrics_table(metrics))
        return metrics
    check_results_fit(dets, coco, name)
    known = set(coco.getImgIds())
    unknown = {d["image_id"] for d in dets} - known
    if unknown:
        raise ValueError(f"{name}: {len(unknown)} image ids are not in the annotation file "
                         f"(e.g. {sorted(unknown)[0]})")
    # loadRes adds fields to the entries; keep the caller's list untouched.
    dets = copy.deepcopy(dets)
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        coco_dt = coco.loadRes(dets)
        coco_eval = COCOeval(coco, coco_dt, iouType="keypoints")
        if image_ids is not None:
            coco_eval.params.imgIds = sorted({int(i) for i in image_ids})
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    metrics = {k: float(v) for k, v in zip(METRIC_NAMES, np.asarray(coco_eval.stats)[:10])}
    if print_table:
        print(format_metrics_table(metrics, Path(name).stem if name != "results" else ""))
    return metrics


def check_results_fit(dets, coco: COCO, name: str) -> None:
    """ValueError (naming ``name``) when a result would be scored as a silent 0: a category other
    than the annotation's person category, or a keypoint count other than its joint count x 3."""
    person = coco.cats.get(PERSON_CATEGORY_ID, {})
    expected = 3 * len(person.get("keypoints", []))
    for i, det in enumerate(dets):
        category = det.get("category_id", PERSON_CATEGORY_ID)
        if category != PERSON_CATEGORY_ID:
            raise ValueError(f"{name}: entry {i} has category_id {category!r}; keypoint results must be "
                             f"person (category_id {PERSON_CATEGORY_ID})")
        if expected and len(det["keypoints"]) != expected:
            raise ValueError(f"{name}: entry {i} has {len(det['keypoints'])} keypoint values, expected "
                             f"{expected} ({expected // 3} joints x 3)")


def format_metrics_table(metrics: dict, name: str = "") -> str:
    """Markdown table of the metrics, one column per key, values as fractions to 3 decimals.

    Returns:
        Three lines: header, separator, values.
    """
    keys = [k for k in METRIC_NAMES if k in metrics] or list(metrics)
    head = ["Model"] + keys if name else keys
    vals = ([name] if name else []) + [f"{metrics[k]:.3f}" for k in keys]
    widths = [max(len(h), len(v)) for h, v in zip(head, vals)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, line(vals)])
