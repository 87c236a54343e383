"""COCO person keypoints and detection boxes -> ``PersonRecord`` lists, with input validation.

Every problem with an input file raises ``DataError`` with one line that names the file
and the problem, before any training starts. Instances that COCO itself contains and that
a top-down pipeline cannot use are skipped, as HRNet and mmpose skip them: crowd regions,
people with no labelled joint, and boxes that are empty once cleaned. A file in which
*nothing* usable remains is an error, with the counts of what was skipped.

Ground-truth boxes are cleaned by HRNet's rule by default (``clean_box_hrnet``; mmpose's
``clip_box`` is ``data.gt_box_rule: mmpose``). Detection boxes are used as given, as HRNet
uses them (``test.clip_det_boxes: true`` clips them like mmpose's ground truth).
"""

import contextlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from posedy.data.geometry import box_to_center_scale
from posedy.data.keypoints import NUM_COCO_KEYPOINTS
from posedy.data.records import PersonRecord
from posedy.safe_load import InputFormatError, parse_json_bytes

PERSON_CATEGORY_ID = 1
# Decoding is refused above this many pixels (checked against the annotation's width and
# height before decoding, and by OpenCV itself on the file's header): 2^27 is 11585^2, far
# above any photograph COCO holds, while a 30000x30000 PNG of under 1 MB would take 2.7 GB.
MAX_IMAGE_PIXELS = 2**27


class DataError(ValueError):
    """An unusable data input; the message is one line naming the file and the problem."""


def read_json(path):
    """Parse a JSON file; ``DataError`` for a missing, unreadable or malformed file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return parse_json_bytes(f.read())
    except InputFormatError as exc:
        raise DataError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise DataError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not valid JSON (not UTF-8 text)") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_coco_keypoints(data, path, num_joints: int = NUM_COCO_KEYPOINTS, *,
                            for_evaluation: bool = False) -> None:
    """Check the parts of a COCO person-keypoints file that the pipeline relies on.

    Ids are integers and unique, sizes finite and within ``MAX_IMAGE_PIXELS``, file names
    strings; ``for_evaluation`` also requires what COCOeval reads (``area``, and a
    ``num_keypoints`` that counts the labelled joints).

    Raises:
        DataError: naming ``path`` and the first problem found.
    """
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a COCO annotation file (top level is a {type(data).__name__}, "
                        f"expected an object with images, annotations, categories)")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DataError(f"{path}: not a COCO annotation file (missing '{key}')")
        if not isinstance(data[key], list):
            raise DataError(f"{path}: '{key}' must be a list, got {type(data[key]).__name__}")
    persons = [c for c in data["categories"] if isinstance(c, dict) and c.get("id") == PERSON_CATEGORY_ID]
    if not persons:
        raise DataError(f"{path}: no person category (id {PERSON_CATEGORY_ID}) in 'categories'")
    names = persons[0].get("keypoints")
    if not isinstance(names, list):
        raise DataError(f"{path}: person category has no 'keypoints' list")
    if len(names) != num_joints:
        raise DataError(f"{path}: person category lists {len(names)} keypoints, expected {num_joints}")
    image_ids = set()
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not {"id", "file_name", "width", "height"} <= img.keys():
            raise DataError(f"{path}: images[{i}] lacks one of id, file_name, width, height")
        if not _is_id(img["id"]):
            raise DataError(f"{path}: images[{i}] has id {img['id']!r}, expected an integer")
        if img["id"] in image_ids:
            raise DataError(f"{path}: image id {img['id']} is listed twice in 'images'")
        if not isinstance(img["file_name"], str) or not img["file_name"]:
            raise DataError(f"{path}: image id {img['id']} has file_name {img['file_name']!r}, expected a string")
        width, height = img["width"], img["height"]
        # COCO sizes are whole pixels; a fractional or non-finite one is a damaged file.
        if not (_is_id(width) and _is_id(height)) or width <= 0 or height <= 0:
            raise DataError(f"{path}: image id {img['id']} has invalid size {width!r}x{height!r}")
        if width * height > MAX_IMAGE_PIXELS:
            raise DataError(f"{path}: image id {img['id']} is {width}x{height} pixels, over the limit of "
                            f"{MAX_IMAGE_PIXELS} (posedy.data.coco.MAX_IMAGE_PIXELS)")
        image_ids.add(img["id"])
    ann_ids = set()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DataError(f"{path}: annotations[{i}] is not an object")
        ann_id = ann.get("id", f"#{i}")
        for key in ("id", "image_id", "category_id", "bbox"):
            if key not in ann:
                raise DataError(f"{path}: annotation {ann_id} has no '{key}'"
                                if key == "id" else f"{path}: annotation id {ann_id} has no '{key}'")
        for key in ("id", "image_id", "category_id"):
            if not _is_id(ann[key]):
                raise DataError(f"{path}: annotation id {ann_id!r} has {key} {ann[key]!r}, expected an integer")
        if ann_id in ann_ids:
            raise DataError(f"{path}: annotation id {ann_id} is used twice")
        ann_ids.add(ann_id)
        if "area" in ann and not (_is_number(ann["area"]) and math.isfinite(ann["area"]) and ann["area"] >= 0):
            raise DataError(f"{path}: annotation id {ann_id} has area {ann['area']!r}, expected a number >= 0")
        for key in ("num_keypoints", "iscrowd"):
            if key in ann and not (_is_id(ann[key]) and ann[key] >= 0):
                raise DataError(f"{path}: annotation id {ann_id} has {key} {ann[key]!r}, expected an integer >= 0")
        if ann["image_id"] not in image_ids:
            raise DataError(f"{path}: annotation id {ann_id} refers to unknown image id {ann['image_id']}")
        if ann["category_id"] != PERSON_CATEGORY_ID:
            continue
        if "keypoints" not in ann:
            raise DataError(f"{path}: annotation id {ann_id} has no 'keypoints'")
        kps = ann["keypoints"]
        if not isinstance(kps, list) or len(kps) != 3 * num_joints:
            count = len(kps) if isinstance(kps, list) else type(kps).__name__
            raise DataError(f"{path}: annotation id {ann_id} has {count} keypoint values, "
                            f"expected {3 * num_joints} ({num_joints} joints x 3)")
        try:
            finite = bool(np.isfinite(np.asarray(kps, dtype=np.float64)).all())
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise DataError(f"{path}: annotation id {ann_id} has non-numeric or non-finite keypoints")
        box = ann["bbox"]
        if (not isinstance(box, list) or len(box) != 4
                or not all(_is_number(v) and math.isfinite(v) for v in box)):
            raise DataError(f"{path}: annotation id {ann_id} has a malformed bbox {box!r} (expected [x, y, w, h])")
        if box[2] < 0 or box[3] < 0:
            raise DataError(f"{path}: annotation id {ann_id} has a negative bbox size {box!r}")
        if for_evaluation:
            # COCOeval reads both and weighs the instance by them; without them it fails only
            # after a whole epoch of training, and a wrong num_keypoints silently scores AP -1.
            for key in ("area", "num_keypoints"):
                if key not in ann:
                    raise DataError(f"{path}: annotation id {ann_id} has no '{key}' (COCO evaluation needs it)")
            labelled = int((np.asarray(kps, dtype=np.float64)[2::3] > 0).sum())
            if ann["num_keypoints"] != labelled:
                raise DataError(f"{path}: annotation id {ann_id} has num_keypoints {ann['num_keypoints']} "
                                f"but {labelled} labelled joints")


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_coco(ann_file, num_joints: int = NUM_COCO_KEYPOINTS, *, for_evaluation: bool = False) -> COCO:
    """Read and validate a ``person_keypoints_*.json`` file into a pycocotools ``COCO``
    (``for_evaluation``: see ``validate_coco_keypoints``).

    Raises:
        DataError: the file is missing, not JSON, or not a usable COCO keypoints file.
    """
    data = read_json(ann_file)
    validate_coco_keypoints(data, ann_file, num_joints, for_evaluation=for_evaluation)
    coco = COCO()
    coco.dataset = data
    # pycocotools prints progress lines; keep library output quiet.
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


GT_BOX_RULES = ("hrnet", "mmpose")


def clean_box_hrnet(box, width: float, height: float):
    """HRNet's ground-truth box cleaning.

    ``x1 = max(0, x)``, ``x2 = min(W - 1, x1 + max(0, w - 1))`` (the same in y), kept when
    ``x2 >= x1`` and ``y2 >= y1``. The width is measured from the *clipped* corner, so a box
    that starts left of the image keeps its width instead of losing the part outside, and a
    box inside the image loses one pixel (``w - 1``).

    Args:
        box: ``(x, y, w, h)``; width, height: the image size.
    Returns:
        (4,) float32 ``(x1, y1, x2 - x1, y2 - y1)``, or None when the box is empty (it
        starts right of or below the image).
    """
    x, y, w, h = (float(v) for v in box)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def clip_box(box, width: float, height: float):
    """Clip an ``(x, y, w, h)`` box to the image's pixel centres ``[0, W-1] x [0, H-1]``.

    (mmpose's rule, ``data.gt_box_rule: mmpose``; HRNet's is ``clean_box_hrnet``.)

    Returns:
        (4,) float32 ``(x, y, w, h)``, or None when the clipped box has no area (a
        zero-size box, or one entirely outside the image).
    """
    x, y, w, h = (float(v) for v in box)
    x1, x2 = np.clip([x, x + w], 0.0, width - 1.0)
    y1, y2 = np.clip([y, y + h], 0.0, height - 1.0)
    if x2 <= x1 or y2 <= y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def resolve_image_path(image_dir, file_name: str, source, image_id, *, allow_outside: bool = False) -> str:
    """``image_dir / file_name``, refused (DataError) when it leaves ``image_dir``.

    An absolute ``file_name`` or one that climbs out with ``..`` (after resolving symbolic
    links) would let an annotation file make the pipeline read, and the tools draw, any file
    on the machine; ``allow_outside`` (``data.allow_outside_image_paths``) permits it.
    """
    path = os.path.join(str(image_dir), file_name)
    if not allow_outside:
        root = os.path.realpath(str(image_dir))
        if os.path.isabs(file_name) or os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise DataError(f"{source}: image id {image_id} has file_name {file_name!r}, which is outside "
                            f"the image folder {image_dir} (set data.allow_outside_image_paths to allow it)")
    return path


def _image_path(coco: COCO, image_id, image_dir, source, checked: dict, allow_outside: bool = False,
                check: bool = True) -> str:
    """Path of an image, resolved (and checked to exist) once per image."""
    if image_id not in checked:
        path = resolve_image_path(image_dir, coco.imgs[image_id]["file_name"], source, image_id,
                                  allow_outside=allow_outside)
        if check and not os.path.isfile(path):
            raise DataError(f"{source}: image id {image_id} is listed but {path} does not exist")
        checked[image_id] = path
    return checked[image_id]


def load_person_records(coco: COCO, image_dir, image_size, *, padding: float = 1.25,
                        ann_file=None, skip_crowd: bool = True, skip_no_keypoints: bool = True,
                        check_images: bool = True, num_joints: int = NUM_COCO_KEYPOINTS,
                        box_rule: str = "hrnet", allow_outside: bool = False) -> list:
    """Ground-truth people of a COCO keypoints file as records.

    Boxes are cleaned by ``box_rule``: ``"hrnet"`` (``clean_box_hrnet``; an annotation whose
    ``area`` is not positive is skipped too, as HRNet skips it) or ``"mmpose"``
    (``clip_box``). A cleaned box with zero width *and* height is skipped (HRNet would crop it
    with scale 0). The crop's centre and scale come from ``box_to_center_scale`` with
    aspect ratio ``image_size[0] / image_size[1]``.

    Args:
        coco: from ``load_coco``; image_dir: folder of the image files;
        image_size: model input ``(w, h)``; ann_file: named in error messages.
    Returns:
        list of ``PersonRecord`` ordered by image id then annotation id; keypoints (K, 3)
        float32 ``(x, y, v)`` with COCO's visibility ``v`` in {0, 1, 2}.
    Raises:
        DataError: an image is missing on disk, or no usable person remains.
    """
    if box_rule not in GT_BOX_RULES:
        raise ValueError(f"unknown box rule {box_rule!r}; valid: {', '.join(GT_BOX_RULES)}")
    clean = clean_box_hrnet if box_rule == "hrnet" else clip_box
    source = ann_file if ann_file is not None else "annotations"
    aspect = float(image_size[0]) / float(image_size[1])
    records, checked = [], {}
    skipped = {"crowd": 0, "no labelled joint": 0, "zero area": 0, "box empty or outside the image": 0}
    for image_id in sorted(coco.imgs):
        img = coco.imgs[image_id]
        ann_ids = sorted(coco.getAnnIds(imgIds=[image_id], catIds=[PERSON_CATEGORY_ID], iscrowd=None))
        for ann in coco.loadAnns(ann_ids):
            if skip_crowd and ann.get("iscrowd", 0):
                skipped["crowd"] += 1
                continue
            kps = np.asarray(ann["keypoints"], dtype=np.float32).reshape(num_joints, 3)
            if skip_no_keypoints and not (kps[:, 2] > 0).any():
                skipped["no labelled joint"] += 1
                continue
            if box_rule == "hrnet" and "area" in ann and not ann["area"] > 0:
                skipped["zero area"] += 1
                continue
            box = clean(ann["bbox"], img["width"], img["height"])
            # A box with neither width nor height has no crop (its scale would be 0).
            if box is None or not (box[2] > 0 or box[3] > 0):
                skipped["box empty or outside the image"] += 1
                continue
            center, scale = box_to_center_scale(box, aspect, padding)
            path = _image_path(coco, image_id, image_dir, source, checked, allow_outside, check_images)
            records.append(PersonRecord(
                image_id=int(image_id), image_path=path, center=center, scale=scale, keypoints=kps,
                score=1.0, area=float(ann.get("area", box[2] * box[3])), bbox=box))
    if not records:
        reasons = ", ".join(f"{n} {why}" for why, n in skipped.items() if n) or "no person annotations"
        raise DataError(f"{source}: no usable person annotations ({reasons})")
    return records


def load_detection_records(det_file, coco: COCO, image_dir, score_thr: float, image_size, *,
                           padding: float = 1.25, check_images: bool = True,
                           num_joints: int = NUM_COCO_KEYPOINTS, clip: bool = False,
                           allow_outside: bool = False) -> list:
    """Person detection boxes (COCO results format) as records to crop at test time.

    The file is a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
    Non-person categories and boxes scoring below ``score_thr`` are skipped. Boxes are used
    as given (HRNet's rule: a box reaching past the image keeps its centre and scale; the
    crop is padded with black); only a box with zero width *and* height, which has no crop,
    is dropped. ``clip=True`` clips boxes to the image (``clip_box``) and drops empty ones.

    Returns:
        list of ``PersonRecord`` in file order, keypoints zeros (K, 3), ``score`` the box
        score, ``bbox`` the box used, ``area`` its ``w * h``.
    Raises:
        DataError: not JSON, not a list, an entry with missing or wrong fields, an unknown
        image id, a negative or non-finite box or score, a missing image file.
    """
    dets = read_json(det_file)
    if not isinstance(dets, list):
        raise DataError(f"{det_file}: detection results must be a JSON list, got {type(dets).__name__}")
    aspect = float(image_size[0]) / float(image_size[1])
    records, checked = [], {}
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {"image_id", "category_id", "bbox", "score"} <= det.keys():
            raise DataError(f"{det_file}: entry {i} lacks one of image_id, category_id, bbox, score")
        box, score = det["bbox"], det["score"]
        for key in ("image_id", "category_id"):
            if not _is_id(det[key]):
                raise DataError(f"{det_file}: entry {i} has {key} {det[key]!r}, expected an integer")
        if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
            raise DataError(f"{det_file}: entry {i} has a malformed bbox {box!r} (expected [x, y, w, h])")
        if not all(math.isfinite(v) for v in box) or box[2] < 0 or box[3] < 0:
            raise DataError(f"{det_file}: entry {i} has a negative or non-finite bbox {box!r}")
        if not _is_number(score) or not math.isfinite(score) or score < 0:
            raise DataError(f"{det_file}: entry {i} has an invalid score {score!r}")
        image_id = det["image_id"]
        if image_id not in coco.imgs:
            raise DataError(f"{det_file}: entry {i} refers to image id {image_id!r}, "
                            f"which is not in the annotation file")
        if det["category_id"] != PERSON_CATEGORY_ID or score < score_thr:
            continue
        img = coco.imgs[image_id]
        if clip:
            used = clip_box(box, img["width"], img["height"])
        else:
            used = np.array(box, dtype=np.float32) if box[2] > 0 or box[3] > 0 else None
        if used is None:
            continue
        # Centre and scale from the file's values, not their float32 copy in ``bbox``.
        center, scale = box_to_center_scale(box if not clip else used, aspect, padding)
        path = _image_path(coco, image_id, image_dir, det_file, checked, allow_outside, check_images)
        records.append(PersonRecord(
            image_id=int(image_id), image_path=path, center=center, scale=scale,
            keypoints=np.zeros((num_joints, 3), dtype=np.float32), score=float(score),
            area=float(used[2]) * float(used[3]), bbox=used))
    if not records:
        raise DataError(f"{det_file}: no usable person box scores >= {score_thr}")
    return records
