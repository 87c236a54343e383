"""COCO keypoint results files: written atomically at full precision, read back with their types checked.

Which poses go into the file (rescoring, then OKS-NMS per image) is decided before, in
``posedy.evaluation.rescore_nms``."""

import json
from pathlib import Path

import numpy as np

from posedy import fileio
from posedy.data.coco import read_json

# Full precision, as HRNet writes its results (json.dump of Python floats): the shortest repr
# that reads back to the same float64, so the COCO metric sees exactly the decoded values.
_JOINT_FORMAT = "%r,%r,%r"
_ROWS_PER_CHUNK = 8192


def write_json_atomic(path, obj) -> None:
    """``json.dump`` of ``obj`` (indented) written atomically and durably (``posedy.fileio``).

    Raises:
        OSError: the directory is missing or not writable.
    """
    fileio.atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def format_keypoint_results(image_ids, keypoints, scores, category_id: int = 1) -> str:
    """COCO keypoint results JSON text.

    Each entry is ``{"image_id", "category_id", "keypoints": [x1, y1, s1, ...], "score"}``,
    every number at full float64 precision (``repr``).

    Args:
        image_ids: (N,) int; keypoints: (N, K, 3) ``(x, y, score)``; scores: (N,).
    Returns:
        JSON text of a list of N entries.
    Raises:
        ValueError: a value is NaN or infinite (it has no JSON spelling).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    n, k = keypoints.shape[:2]
    scores = np.asarray(scores, dtype=np.float64).reshape(n)
    image_ids = np.asarray(image_ids).astype(np.int64).reshape(n)
    if not (np.isfinite(keypoints).all() and np.isfinite(scores).all()):
        raise ValueError("results contain NaN or infinite keypoints or scores")
    row = ('{"image_id": %d, "category_id": ' + str(int(category_id)) + ', "keypoints": ['
           + ",".join([_JOINT_FORMAT] * k) + '], "score": %r}')
    table = np.concatenate([image_ids[:, None].astype(np.float64), keypoints.reshape(n, 3 * k)], 1)
    chunks = []
    # One %-format per chunk of rows is much faster than building a dict per instance.
    for lo in range(0, n, _ROWS_PER_CHUNK):
        rows = table[lo:lo + _ROWS_PER_CHUNK].tolist()
        values = [v for r, s in zip(rows, scores[lo:lo + _ROWS_PER_CHUNK].tolist()) for v in (*r, s)]
        chunks.append(",\n".join([row] * len(rows)) % tuple(values))
    return "[\n" + ",\n".join(chunks) + "\n]\n"


def write_keypoint_results(path, image_ids, keypoints, scores, category_id: int = 1) -> None:
    """Write a COCO keypoint results file atomically (see ``format_keypoint_results``)."""
    fileio.atomic_write_text(path, format_keypoint_results(image_ids, keypoints, scores, category_id))


def load_keypoint_results(path) -> list:
    """Read a COCO keypoint results file.

    Returns:
        list of dicts with ``image_id``, ``category_id``, ``keypoints`` and ``score``.
    Raises:
        ValueError: one line naming the file: unreadable, not JSON, or not a list of
        keypoint results.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of keypoint results, got {type(data).__name__}")
    for i, entry in enumerate(data):
        if not (isinstance(entry, dict) and {"image_id", "keypoints", "score"} <= entry.keys()
                and isinstance(entry["keypoints"], list) and len(entry["keypoints"]) % 3 == 0):
            raise ValueError(f"{path}: entry {i} is not a keypoint result "
                             "(needs image_id, keypoints [x, y, s, ...], score)")
        problem = _result_entry_problem(entry)
        if problem:
            raise ValueError(f"{path}: entry {i} {problem}")
    return data


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _result_entry_problem(entry: dict):
    """What is wrong with the types of one keypoint result, or None."""
    for key in ("image_id", "category_id"):
        if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], int)):
            return f"has {key} {entry[key]!r}, expected an integer"
    if not _finite_number(entry["score"]):
        return f"has score {entry['score']!r}, expected a finite number"
    if not all(_finite_number(v) for v in entry["keypoints"]):
        return "has non-numeric or non-finite keypoint values"
    return None
