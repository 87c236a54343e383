"""A deterministic, learnable COCO-format person-keypoint dataset drawn from stick figures.

Each person is a 17-joint kinematic tree (pelvis -> spine -> neck -> head, shoulders,
arms, hips, legs) with plausible limb proportions and joint angles, drawn with thick
limbs, joint discs, a torso polygon and a head. The layout mimics what makes COCO hard
without making a tiny CPU model hopeless: several people per image at different scales,
people overlapping each other (drawn back to front, so the nearer one occludes), random
occluder blobs, truncation at the image border, and textured backgrounds.

Left/right. Most people face the camera (their left side on the image's right) and show
a face; a minority face away, show no face, and have nose and eyes unlabelled, as COCO
annotators do. Which way a person faces and where a limb sits relative to the torso are
the cues that survive horizontal flipping, so flip augmentation and flip testing stay
consistent. Left limbs are drawn in warm colours and right limbs in cool ones so the
limbs of one side are easy to link and to inspect by eye; note that under flip
augmentation the colour alone is not a reliable side cue (a mirrored image keeps the
colours but swaps the labels), which is why the facing cue exists.

Visibility follows COCO: 2 labelled and visible, 1 labelled but covered (by another
person or an occluder), 0 unlabelled (outside the image, or a face joint of a person
facing away) with coordinates (0, 0).

Everything is a function of ``seed``: image ``i`` of a split draws from
``np.random.default_rng([seed, split_code, i])``, so the output does not depend on the
order or number of images generated.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from posedy.data.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, NUM_COCO_KEYPOINTS
from posedy.fileio import atomic_write_text

# The second word of every random stream's seed ``[seed, code, image index]``, one code per
# stream so that they stay disjoint: each split's images, and the val split's detector boxes.
_SPLIT_CODES = {"train2017": 0, "val2017": 1, "val2017_detections": 2}
# Image ids: train from 1, val from 1_000_001, so the two splits never share an id.
_SPLIT_ID_BASE = {"train2017": 0, "val2017": 1_000_000}

DET_FILE_NAME = "COCO_val2017_detections_AP_H_56_person.json"
# Written last by make_synthetic_coco: what made the data (seed, spec, generator code).
STAMP_NAME = "posedy_synthetic_stamp.json"


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. Sizes are ``(w, h)``; person heights are in image pixels."""

    train_images: int = 400
    val_images: int = 200
    image_size: tuple = (320, 240)
    min_people: int = 1
    max_people: int = 3
    min_height: float = 110.0
    max_height: float = 230.0
    # Fraction of people facing away from the camera.
    back_facing_prob: float = 0.15
    occluder_prob: float = 0.3
    jpeg_quality: int = 90


class _J:
    """COCO joint indices by name, looked up in ``COCO_KEYPOINT_NAMES`` so they cannot drift."""

    NOSE = COCO_KEYPOINT_NAMES.index("nose")
    L_EYE = COCO_KEYPOINT_NAMES.index("left_eye")
    R_EYE = COCO_KEYPOINT_NAMES.index("right_eye")
    L_EAR = COCO_KEYPOINT_NAMES.index("left_ear")
    R_EAR = COCO_KEYPOINT_NAMES.index("right_ear")
    L_SHOULDER = COCO_KEYPOINT_NAMES.index("left_shoulder")
    R_SHOULDER = COCO_KEYPOINT_NAMES.index("right_shoulder")
    L_ELBOW = COCO_KEYPOINT_NAMES.index("left_elbow")
    R_ELBOW = COCO_KEYPOINT_NAMES.index("right_elbow")
    L_WRIST = COCO_KEYPOINT_NAMES.index("left_wrist")
    R_WRIST = COCO_KEYPOINT_NAMES.index("right_wrist")
    L_HIP = COCO_KEYPOINT_NAMES.index("left_hip")
    R_HIP = COCO_KEYPOINT_NAMES.index("right_hip")
    L_KNEE = COCO_KEYPOINT_NAMES.index("left_knee")
    R_KNEE = COCO_KEYPOINT_NAMES.index("right_knee")
    L_ANKLE = COCO_KEYPOINT_NAMES.index("left_ankle")
    R_ANKLE = COCO_KEYPOINT_NAMES.index("right_ankle")


# The face features a back-facing figure hides (its ears stay visible).
_FACE_FRONT = (_J.NOSE, _J.L_EYE, _J.R_EYE)
# The body joints (all but the head's), each drawn as a dot.
_BODY_JOINTS = tuple(range(_J.L_SHOULDER, NUM_COCO_KEYPOINTS))

# Limb lengths as fractions of the person's standing height (pelvis-to-crown ~ 0.5).
_TORSO = 0.30
_NECK_TO_HEAD = 0.085
_HEAD_RADIUS = 0.06
_SHOULDER_HALF = 0.105
_HIP_HALF = 0.065
_UPPER_ARM = 0.17
_FOREARM = 0.15
_THIGH = 0.24
_SHIN = 0.23


def _unit(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` radians measured from image-down (+y), turning toward +x."""
    return np.array([np.sin(angle), np.cos(angle)])


def sample_pose(rng: np.random.Generator, height: float, pelvis, back_facing: bool) -> np.ndarray:
    """Joint positions of one figure.

    Angles are measured from "straight down" in the image; a positive limb angle swings
    the limb outward (away from the body's midline).

    Args:
        rng: source of the pose; height: standing height in px; pelvis: ``(x, y)``;
        back_facing: the person's left side is on the image's left.
    Returns:
        (17, 2) float64 ``(x, y)`` in COCO joint order.
    """
    pelvis = np.asarray(pelvis, dtype=np.float64)
    lean = rng.normal(0.0, 0.12)
    up = -_unit(lean)  # from pelvis toward neck
    # "side" points toward the person's left on screen: image right when facing us.
    side = np.array([-up[1], up[0]]) * (-1.0 if back_facing else 1.0)
    fore = rng.uniform(0.75, 1.0)  # foreshortening of the torso toward the camera
    neck = pelvis + up * _TORSO * height * fore
    head_tilt = lean + rng.normal(0.0, 0.15)
    head = neck - _unit(head_tilt) * _NECK_TO_HEAD * height
    kps = np.zeros((NUM_COCO_KEYPOINTS, 2))
    r = _HEAD_RADIUS * height
    head_up = -_unit(head_tilt)
    head_side = np.array([-head_up[1], head_up[0]])
    if back_facing:
        head_side = -head_side
    # Face: a small turn of the head moves the face features sideways.
    turn = rng.uniform(-0.35, 0.35) * r
    kps[_J.NOSE] = head - head_up * 0.15 * r + head_side * turn
    kps[_J.L_EYE] = head + head_up * 0.2 * r + head_side * (0.4 * r + turn)
    kps[_J.R_EYE] = head + head_up * 0.2 * r - head_side * (0.4 * r - turn)
    kps[_J.L_EAR] = head + head_side * 0.95 * r
    kps[_J.R_EAR] = head - head_side * 0.95 * r
    kps[_J.L_SHOULDER] = neck + side * _SHOULDER_HALF * height
    kps[_J.R_SHOULDER] = neck - side * _SHOULDER_HALF * height
    kps[_J.L_HIP] = pelvis + side * _HIP_HALF * height
    kps[_J.R_HIP] = pelvis - side * _HIP_HALF * height
    down = _unit(lean)
    for shoulder, elbow, wrist, sign in ((_J.L_SHOULDER, _J.L_ELBOW, _J.L_WRIST, 1.0),
                                         (_J.R_SHOULDER, _J.R_ELBOW, _J.R_WRIST, -1.0)):
        outward = side * sign
        a1 = rng.uniform(-0.35, 2.6)  # abduction: hanging (~0) to raised above the head
        a2 = rng.uniform(-0.2, 2.0) * (1 if rng.random() < 0.7 else -1)  # elbow bend
        k1 = rng.uniform(0.7, 1.0)
        k2 = rng.uniform(0.7, 1.0)
        d1 = np.cos(a1) * down + np.sin(a1) * outward
        kps[elbow] = kps[shoulder] + d1 * _UPPER_ARM * height * k1
        a = a1 + a2
        d2 = np.cos(a) * down + np.sin(a) * outward
        kps[wrist] = kps[elbow] + d2 * _FOREARM * height * k2
    stride = rng.uniform(-0.15, 0.45)
    for hip, knee, ankle, sign in ((_J.L_HIP, _J.L_KNEE, _J.L_ANKLE, 1.0), (_J.R_HIP, _J.R_KNEE, _J.R_ANKLE, -1.0)):
        outward = side * sign
        a1 = stride * rng.uniform(0.5, 1.0) + rng.normal(0.0, 0.12)
        a2 = -abs(rng.normal(0.0, 0.45))  # knees bend back toward the midline
        k1 = rng.uniform(0.8, 1.0)
        k2 = rng.uniform(0.8, 1.0)
        d1 = np.cos(a1) * down + np.sin(a1) * outward
        kps[knee] = kps[hip] + d1 * _THIGH * height * k1
        a = a1 + a2
        d2 = np.cos(a) * down + np.sin(a) * outward
        kps[ankle] = kps[knee] + d2 * _SHIN * height * k2
    return kps


def _palette(rng: np.random.Generator):
    """Per-person colours (BGR uint8 tuples): warm left limbs, cool right limbs."""
    def hsv(h, s, v):
        px = np.uint8([[[int(h) % 180, int(s), int(v)]]])
        return tuple(int(c) for c in cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0])

    warm = rng.uniform(0, 25)     # red-orange (OpenCV hue is 0..180)
    cool = rng.uniform(95, 125)   # blue
    return {
        "left": hsv(warm, rng.uniform(180, 255), rng.uniform(170, 255)),
        "right": hsv(cool, rng.uniform(180, 255), rng.uniform(150, 255)),
        "torso": hsv(rng.uniform(35, 85), rng.uniform(60, 200), rng.uniform(80, 200)),
        "skin": hsv(rng.uniform(8, 20), rng.uniform(60, 150), rng.uniform(150, 240)),
        "hair": hsv(rng.uniform(0, 30), rng.uniform(50, 200), rng.uniform(20, 90)),
        "joint": hsv(rng.uniform(140, 170), 220, 240),
    }


def _draw_person(canvas, ids, person_id: int, kps, height: float, back_facing: bool, colours):
    """Draw one figure onto ``canvas`` (H, W, 3) uint8 and its id into ``ids`` (H, W) int32."""
    thick = max(2, int(round(0.045 * height)))
    pts = np.round(kps).astype(np.int32)

    def line(a, b, colour, t):
        cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), colour, t, cv2.LINE_AA)
        cv2.line(ids, tuple(pts[a]), tuple(pts[b]), person_id, t)

    torso = pts[[_J.L_SHOULDER, _J.R_SHOULDER, _J.R_HIP, _J.L_HIP]]
    cv2.fillConvexPoly(canvas, torso, colours["torso"], cv2.LINE_AA)
    cv2.fillConvexPoly(ids, torso, person_id)
    # Far-side limbs first so the near side overlaps them.
    for a, b, key in ((_J.R_SHOULDER, _J.R_ELBOW, "right"), (_J.R_ELBOW, _J.R_WRIST, "right"),
                      (_J.R_HIP, _J.R_KNEE, "right"), (_J.R_KNEE, _J.R_ANKLE, "right"),
                      (_J.L_SHOULDER, _J.L_ELBOW, "left"), (_J.L_ELBOW, _J.L_WRIST, "left"),
                      (_J.L_HIP, _J.L_KNEE, "left"), (_J.L_KNEE, _J.L_ANKLE, "left")):
        line(a, b, colours[key], thick)
    for j in _BODY_JOINTS:
        cv2.circle(canvas, tuple(pts[j]), max(2, thick // 2 + 1), colours["joint"], -1, cv2.LINE_AA)
    # Neck and head.
    head = (kps[_J.L_EAR] + kps[_J.R_EAR]) * 0.5
    neck = (kps[_J.L_SHOULDER] + kps[_J.R_SHOULDER]) * 0.5
    cv2.line(canvas, tuple(np.round(neck).astype(int)), tuple(np.round(head).astype(int)),
             colours["skin"], thick, cv2.LINE_AA)
    r = max(3, int(round(_HEAD_RADIUS * height)))
    centre = tuple(np.round(head).astype(int))
    cv2.circle(canvas, centre, r, colours["hair"] if back_facing else colours["skin"], -1, cv2.LINE_AA)
    cv2.circle(ids, centre, r, person_id, -1)
    if not back_facing:
        eye_r = max(1, r // 5)
        cv2.circle(canvas, tuple(pts[_J.L_EYE]), eye_r, (30, 30, 30), -1, cv2.LINE_AA)
        cv2.circle(canvas, tuple(pts[_J.R_EYE]), eye_r, (30, 30, 30), -1, cv2.LINE_AA)
        cv2.circle(canvas, tuple(pts[_J.NOSE]), eye_r, (40, 40, 160), -1, cv2.LINE_AA)
    # Left ear warm, right ear cool, like the limbs.
    cv2.circle(canvas, tuple(pts[_J.L_EAR]), max(1, r // 4), colours["left"], -1, cv2.LINE_AA)
    cv2.circle(canvas, tuple(pts[_J.R_EAR]), max(1, r // 4), colours["right"], -1, cv2.LINE_AA)


def _background(rng: np.random.Generator, size) -> np.ndarray:
    """A textured background (H, W, 3) uint8: gradient, smooth noise and random shapes."""
    w, h = size
    kind = rng.integers(3)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0.0, 1.0, h if kind == 0 else w, dtype=np.float32)
    grad = c0 + (c1 - c0) * t[:, None]
    if kind == 0:
        img = np.broadcast_to(grad[:, None, :], (h, w, 3))
    else:
        img = np.broadcast_to(grad[None, :, :], (h, w, 3))
    coarse = rng.normal(0.0, 35.0, (max(2, h // 24), max(2, w // 24), 3)).astype(np.float32)
    img = img + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img = img + rng.normal(0.0, 6.0, (h, w, 3)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 9)):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = rng.integers(3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if shape == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, w // 2)), y + int(rng.integers(10, h // 2))),
                          colour, -1)
        elif shape == 1:
            cv2.circle(img, (x, y), int(rng.integers(5, h // 4)), colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


def render_image(rng: np.random.Generator, spec: SyntheticSpec):
    """Draw one image and annotate its people.

    Returns:
        image: (H, W, 3) uint8 BGR; people: list of dicts with ``keypoints`` (17, 3)
        float64 (COCO visibility), ``bbox`` (x, y, w, h) of the drawn figure clipped to the
        image, ``hull`` (P, 2) convex hull of its visible pixels and ``area`` the hull's area.
    """
    w, h = spec.image_size
    image = _background(rng, (w, h))
    ids = np.zeros((h, w), dtype=np.int32)
    n = int(rng.integers(spec.min_people, spec.max_people + 1))
    heights = np.sort(rng.uniform(spec.min_height, spec.max_height, n))  # far (small) first
    people = []
    for i, height in enumerate(heights):
        back = bool(rng.random() < spec.back_facing_prob)
        # Pelvis placement lets up to ~1/4 of the figure leave the frame (truncation).
        px = rng.uniform(0.05 * w, 0.95 * w)
        py = rng.uniform(0.35 * height, h - 0.25 * height) if h > 0.6 * height else h * 0.5
        kps = sample_pose(rng, height, (px, py), back)
        own = np.zeros((h, w), dtype=np.int32)
        colours = _palette(rng)
        _draw_person(image, own, 1, kps, height, back, colours)
        ids[own > 0] = i + 1
        people.append({"kps": kps, "back": back, "own": own > 0})
    # Occluders cover parts of people after they are drawn.
    if rng.random() < spec.occluder_prob:
        for _ in range(rng.integers(1, 3)):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            axes = (int(rng.uniform(10, w * 0.15)), int(rng.uniform(10, h * 0.2)))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(image, (cx, cy), axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
            cv2.ellipse(ids, (cx, cy), axes, angle, 0, 360, -1, -1)
    out = []
    for i, person in enumerate(people):
        kps = person["kps"]
        vis = np.full(NUM_COCO_KEYPOINTS, 2.0)
        xi = np.round(kps[:, 0]).astype(int)
        yi = np.round(kps[:, 1]).astype(int)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        owner = np.full(NUM_COCO_KEYPOINTS, -2)
        owner[inside] = ids[yi[inside], xi[inside]]
        vis[inside & (owner != i + 1)] = 1.0
        vis[~inside] = 0.0
        if person["back"]:
            vis[list(_FACE_FRONT)] = 0.0
        keypoints = np.concatenate([kps, vis[:, None]], axis=1)
        keypoints[vis == 0, :2] = 0.0
        ys, xs = np.nonzero(person["own"])
        vy, vx = np.nonzero(ids == i + 1)
        if len(xs) == 0 or len(vx) < 3:
            continue
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        hull = cv2.convexHull(np.stack([vx, vy], 1).astype(np.int32)).reshape(-1, 2)
        # COCO's area is a filled silhouette's (about 0.4 of the box for real people); a stick
        # figure's pixel count (about 0.25) would make OKS far stricter than on people, so
        # the area is that of the visible pixels' convex hull (about 0.6), the segmentation.
        area = float(cv2.contourArea(hull.astype(np.float32)))
        if area <= 0:
            continue
        out.append({"keypoints": keypoints, "bbox": (float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                    "area": area, "hull": hull})
    return image, out


def _categories():
    return [{
        "supercategory": "person", "id": 1, "name": "person",
        "keypoints": list(COCO_KEYPOINT_NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
    }]


def _detections(rng: np.random.Generator, image_id: int, people, size):
    """Detector-like boxes for one image: jittered true boxes, a few misses and false positives."""
    w, h = size
    dets = []
    for p in people:
        x, y, bw, bh = p["bbox"]
        if rng.random() < 0.04:
            continue  # a miss
        jitter = rng.normal(0.0, 0.04, 4) * np.array([bw, bh, bw, bh])
        nx, ny = x + jitter[0], y + jitter[1]
        nw, nh = max(2.0, bw + jitter[2]), max(2.0, bh + jitter[3])
        nx, ny = max(0.0, nx), max(0.0, ny)
        nw, nh = min(nw, w - nx), min(nh, h - ny)
        score = float(np.clip(rng.beta(8.0, 1.2), 0.3, 0.9999))
        dets.append((nx, ny, nw, nh, score))
        if rng.random() < 0.25:  # a duplicate, looser and less confident
            scale = rng.uniform(1.05, 1.3)
            dw, dh = nw * scale, nh * scale
            dx, dy = max(0.0, nx - (dw - nw) / 2), max(0.0, ny - (dh - nh) / 2)
            dets.append((dx, dy, min(dw, w - dx), min(dh, h - dy), score * rng.uniform(0.1, 0.5)))
    for _ in range(rng.poisson(1.0)):
        bw, bh = rng.uniform(15, w * 0.4), rng.uniform(30, h * 0.8)
        bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        dets.append((bx, by, bw, bh, float(rng.uniform(0.01, 0.45))))
    return [{"image_id": image_id, "category_id": 1,
             "bbox": [round(float(v), 2) for v in d[:4]], "score": round(float(d[4]), 5)} for d in dets]


def write_split(out_dir, split: str, num_images: int, seed: int, spec: SyntheticSpec):
    """Write one split's images and annotation JSON; return (annotation dict, detections list)."""
    out_dir = Path(out_dir)
    image_dir = out_dir / "images" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations, detections = [], [], []
    ann_id = _SPLIT_ID_BASE[split] + 1
    w, h = spec.image_size
    for i in range(num_images):
        rng = np.random.default_rng([seed, _SPLIT_CODES[split], i])
        image_id = _SPLIT_ID_BASE[split] + i + 1
        image, people = render_image(rng, spec)
        name = f"{image_id:012d}.jpg"
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
        if not ok:
            raise RuntimeError(f"could not encode {name}")
        buf.tofile(str(image_dir / name))
        images.append({"id": image_id, "file_name": name, "width": w, "height": h, "license": 0})
        for p in people:
            kps = p["keypoints"]
            flat = []
            for x, y, v in kps:
                flat += [round(float(x), 2), round(float(y), 2), int(v)]
            annotations.append({
                "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "num_keypoints": int((kps[:, 2] > 0).sum()), "keypoints": flat,
                "bbox": [round(v, 2) for v in p["bbox"]], "area": round(p["area"], 2),
                "segmentation": [[float(c) for c in p["hull"].reshape(-1)]] if len(p["hull"]) >= 3 else [],
            })
            ann_id += 1
        if split == "val2017":
            box_rng = np.random.default_rng([seed, _SPLIT_CODES["val2017_detections"], i])
            detections += _detections(box_rng, image_id, people, (w, h))
    coco = {
        "info": {"description": f"posedy synthetic person keypoints ({split}, seed {seed})", "version": "1.0"},
        "licenses": [{"id": 0, "name": "generated by posedy.data.synthetic", "url": ""}],
        "images": images, "annotations": annotations, "categories": _categories(),
    }
    return coco, detections


def _write_json_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, separators=(",", ":")))


def generator_stamp(seed: int, spec: SyntheticSpec) -> dict:
    """What determines the generated files: the seed, the spec and the generator's source code
    (this module and the keypoint definitions it draws), as a JSON-able dict."""
    from . import keypoints
    digest = hashlib.sha256()
    for module_file in (__file__, keypoints.__file__):
        digest.update(Path(module_file).read_bytes())
    return {"seed": int(seed), "spec": json.loads(json.dumps(asdict(spec))), "code_sha256": digest.hexdigest()}


def stamp_is_current(out_dir, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> bool:
    """True when ``out_dir`` holds a complete dataset made with this seed, spec and generator
    code; False when the stamp is missing, unreadable or different (a stale copy)."""
    try:
        stamp = json.loads((Path(out_dir) / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    return stamp == generator_stamp(seed, spec)


def make_synthetic_coco(out_dir, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> dict:
    """Generate the whole dataset under ``out_dir`` in COCO's layout.

    Writes ``images/{train2017,val2017}/*.jpg``,
    ``annotations/person_keypoints_{train2017,val2017}.json`` and
    ``person_detection_results/COCO_val2017_detections_AP_H_56_person.json``, then the stamp
    (``STAMP_NAME``, ``generator_stamp``) that ``stamp_is_current`` checks.

    Returns:
        dict of the written paths (``train_ann``, ``val_ann``, ``det_file``) and counts.
    """
    out_dir = Path(out_dir)
    summary = {}
    for split, n in (("train2017", spec.train_images), ("val2017", spec.val_images)):
        coco, dets = write_split(out_dir, split, n, seed, spec)
        ann_path = out_dir / "annotations" / f"person_keypoints_{split}.json"
        _write_json_atomic(ann_path, coco)
        key = "train" if split == "train2017" else "val"
        summary[f"{key}_ann"] = str(ann_path)
        summary[f"{key}_images"] = len(coco["images"])
        summary[f"{key}_people"] = len(coco["annotations"])
        if split == "val2017":
            det_path = out_dir / "person_detection_results" / DET_FILE_NAME
            _write_json_atomic(det_path, dets)
            summary["det_file"] = str(det_path)
            summary["detections"] = len(dets)
    # Last, so that an interrupted run leaves no stamp and counts as stale.
    _write_json_atomic(out_dir / STAMP_NAME, generator_stamp(seed, spec))
    return summary
