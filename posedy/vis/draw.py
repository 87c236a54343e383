"""Drawing poses, boxes and simple charts with OpenCV.

Images are ``(H, W, 3)`` uint8 BGR (OpenCV's order); points are ``(x, y)`` image pixels.
Every function returns a new image and leaves its input untouched.
"""

import cv2
import numpy as np

from posedy.data.keypoints import COCO_FLIP_PAIRS, COCO_SKELETON

# Sub-pixel drawing: OpenCV takes fixed-point coordinates with this many fractional bits.
_SHIFT = 4
_ONE = 1 << _SHIFT


def _palette(n: int, saturation: int = 230, value: int = 255) -> np.ndarray:
    """``n`` evenly spaced hues as BGR uint8, (n, 3)."""
    hsv = np.zeros((1, n, 3), dtype=np.uint8)
    hsv[0, :, 0] = (np.arange(n) * 180 // n).astype(np.uint8)
    hsv[0, :, 1] = saturation
    hsv[0, :, 2] = value
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]


# One colour per limb of the COCO skeleton.
COCO_LIMB_COLORS = tuple(tuple(int(c) for c in bgr) for bgr in _palette(len(COCO_SKELETON)))
# Joints: left side green, right side orange, centre (nose) white, so that a left/right
# swap is visible at a glance.
LEFT_JOINT_COLOR = (80, 220, 60)
RIGHT_JOINT_COLOR = (0, 140, 255)
CENTER_JOINT_COLOR = (255, 255, 255)


def joint_colors(num_joints: int = 17, flip_pairs=COCO_FLIP_PAIRS) -> list:
    """BGR colour per joint: left members of ``flip_pairs`` green, right orange, others white."""
    colors = [CENTER_JOINT_COLOR] * num_joints
    for left, right in flip_pairs:
        colors[left], colors[right] = LEFT_JOINT_COLOR, RIGHT_JOINT_COLOR
    return colors


def _fixed(point) -> tuple:
    return (int(round(float(point[0]) * _ONE)), int(round(float(point[1]) * _ONE)))


def draw_pose(image, keypoints, *, threshold: float = 0.3, skeleton=COCO_SKELETON,
              limb_colors=COCO_LIMB_COLORS, colors=None, radius: int = 4, thickness: int = 2):
    """Draw one pose: limbs (one colour each) under joints; low-score joints are hidden.

    Args:
        image: (H, W, 3) uint8 BGR.
        keypoints: (K, 3) ``(x, y, score)`` (or COCO visibility; 0 hides the joint).
        threshold: joints with score below it are not drawn, nor are their limbs.
        skeleton: limbs as 0-based ``(joint_a, joint_b)``; limb_colors: BGR per limb.
        colors: BGR per joint; default ``joint_colors(K)``.
    Returns:
        (H, W, 3) uint8 BGR copy with the pose drawn.
    """
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    visible = (kps[:, 2] >= threshold) & (kps[:, 2] > 0) & np.isfinite(kps[:, :2]).all(axis=1)
    colors = colors or joint_colors(len(kps))
    for (a, b), color in zip(skeleton, limb_colors):
        if a < len(kps) and b < len(kps) and visible[a] and visible[b]:
            cv2.line(out, _fixed(kps[a]), _fixed(kps[b]), color, thickness, cv2.LINE_AA, _SHIFT)
    for j in np.flatnonzero(visible):
        cv2.circle(out, _fixed(kps[j]), radius * _ONE, colors[j], -1, cv2.LINE_AA, _SHIFT)
    return out


def draw_box(image, box, color=(255, 200, 0), label: str = "", thickness: int = 2):
    """Draw an ``(x, y, w, h)`` box with an optional label above it. Returns a copy."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    x, y, w, h = (float(v) for v in box)
    # Crisp (not anti-aliased) edges: a thin box should keep its colour.
    cv2.rectangle(out, _fixed((x, y)), _fixed((x + w, y + h)), color, thickness, cv2.LINE_8, _SHIFT)
    if label:
        cv2.putText(out, label, (int(x), max(int(y) - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                    cv2.LINE_AA)
    return out


def put_title(image, text: str, color=(255, 255, 255)):
    """Write ``text`` in the top-left corner on a dark band. Returns a copy."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
    cv2.putText(out, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 1, cv2.LINE_AA)
    return out


# The joint-colour key of every pose picture, in drawing order.
SIDE_LEGEND = (("left", LEFT_JOINT_COLOR), ("right", RIGHT_JOINT_COLOR))


def draw_legend(image, items=SIDE_LEGEND, *, radius: int = 4):
    """A key in the bottom-left corner: one filled dot and its name per item, on a dark band.

    Args:
        image: (H, W, 3) uint8 BGR.
        items: ``(name, BGR colour)`` pairs; default: the left / right joint colours.
    Returns:
        (H, W, 3) uint8 BGR copy. An image too small to hold the key (it would cover more than
        half its width or a third of its height) is returned unchanged, as a copy.
    """
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    sizes = [cv2.getTextSize(name, font, scale, 1)[0] for name, _ in items]
    text_h = max((h for _, h in sizes), default=0)
    row_h = max(text_h, 2 * radius) + 6
    width = 8 + sum(2 * radius + 6 + w + 12 for w, _ in sizes)
    height = row_h + 4
    h, w = out.shape[:2]
    if not items or width > w // 2 or height > h // 3:
        return out
    cv2.rectangle(out, (0, h - height), (width, h - 1), (0, 0, 0), -1)
    x, cy = 8, h - height // 2 - 1
    for (name, color), (tw, _) in zip(items, sizes):
        cv2.circle(out, (x + radius, cy), radius, tuple(int(c) for c in color), -1, cv2.LINE_AA)
        x += 2 * radius + 6
        cv2.putText(out, name, (x, cy + text_h // 2), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        x += tw + 12
    return out


def side_by_side(images, gap: int = 4):
    """Concatenate images horizontally (heights padded to the tallest) with a black gap.

    Args:
        images: list of (H_i, W_i, 3) uint8.
    Returns:
        (max H_i, sum W_i + gaps, 3) uint8.
    """
    height = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        pad = np.zeros((height, im.shape[1], 3), dtype=np.uint8)
        pad[:im.shape[0]] = im
        parts.append(pad)
        if i < len(images) - 1:
            parts.append(np.zeros((height, gap, 3), dtype=np.uint8))
    return np.concatenate(parts, axis=1)


def bar_chart(values, labels=None, *, title: str = "", size=(640, 360), value_range=None,
              color=(200, 140, 40), errors=None, value_format: str = ""):
    """A vertical bar chart drawn with OpenCV (no matplotlib needed).

    Args:
        values: (B,) bar heights; labels: B short strings under the bars (optional).
        title: text at the top; size: ``(w, h)`` of the image.
        value_range: ``(lo, hi)`` of the y axis; default ``(min(0, min), max)``.
        errors: (B,) optional half-lengths of error bars (e.g. a standard deviation).
        value_format: e.g. ``"{:.3f}"``: each bar's value written above it.
    Returns:
        (h, w, 3) uint8 BGR image, white background.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    w, h = int(size[0]), int(size[1])
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 48, 12, 28 if title else 12, 40 if labels is not None else 16
    lo, hi = value_range if value_range is not None else (min(0.0, float(values.min(initial=0))),
                                                          float(values.max(initial=1)))
    if hi <= lo:
        hi = lo + 1.0
    plot_h, plot_w = h - top - bottom, w - left - right

    def to_y(v):
        return int(round(top + plot_h * (1.0 - (np.clip(v, lo, hi) - lo) / (hi - lo))))

    font = cv2.FONT_HERSHEY_SIMPLEX
    for tick in np.linspace(lo, hi, 5):
        y = to_y(tick)
        cv2.line(img, (left, y), (w - right, y), (225, 225, 225), 1)
        cv2.putText(img, f"{tick:.2g}", (2, y + 4), font, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    n = max(len(values), 1)
    slot = plot_w / n
    for i, v in enumerate(values):
        x0 = int(left + i * slot + slot * 0.15)
        x1 = max(int(left + (i + 1) * slot - slot * 0.15), x0 + 1)
        cv2.rectangle(img, (x0, to_y(max(lo, 0.0) if lo < 0 else lo)), (x1, to_y(v)), color, -1)
        if value_format:
            text = value_format.format(float(v))
            (tw, _), _ = cv2.getTextSize(text, font, 0.35, 1)
            cv2.putText(img, text, ((x0 + x1 - tw) // 2, max(to_y(v) - 4, top + 10)), font, 0.35, (0, 0, 0),
                        1, cv2.LINE_AA)
        if errors is not None:
            xm, err = (x0 + x1) // 2, float(errors[i])
            cv2.line(img, (xm, to_y(v - err)), (xm, to_y(v + err)), (40, 40, 40), 1)
        if labels is not None:
            text = str(labels[i])
            (tw, _), _ = cv2.getTextSize(text, font, 0.3, 1)
            cx = int(left + (i + 0.5) * slot)
            cv2.putText(img, text, (cx - tw // 2, h - bottom + 14 + 10 * (i % 2)), font, 0.3, (40, 40, 40),
                        1, cv2.LINE_AA)
    cv2.line(img, (left, top), (left, h - bottom), (0, 0, 0), 1)
    cv2.line(img, (left, h - bottom), (w - right, h - bottom), (0, 0, 0), 1)
    if title:
        cv2.putText(img, title, (left, 18), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def line_chart(series, *, title: str = "", size=(480, 300), xlabel: str = "", log_y: bool = False,
               empty_text: str = "no data"):
    """Lines over a shared x axis, drawn with OpenCV (no matplotlib needed).

    Args:
        series: ``{name: (xs, ys)}``, each a sequence of numbers (None / non-finite y skipped);
            one colour per name, with a legend in the top-right corner.
        title: text at the top; size: ``(w, h)``; xlabel: text under the x axis.
        log_y: logarithmic y axis (positive values only).
        empty_text: what the panel says when no series has a point.
    Returns:
        (h, w, 3) uint8 BGR image, white background.
    """
    w, h = int(size[0]), int(size[1])
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 58, 12, 28 if title else 12, 34
    font = cv2.FONT_HERSHEY_SIMPLEX
    clean = {}
    for name, (xs, ys) in series.items():
        pts = [(float(x), float(y)) for x, y in zip(xs, ys)
               if y is not None and np.isfinite(y) and (not log_y or y > 0)]
        if pts:
            clean[name] = np.asarray(pts)
    if title:
        cv2.putText(img, title, (left, 18), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if not clean:
        (tw, _), _ = cv2.getTextSize(empty_text, font, 0.45, 1)
        cv2.putText(img, empty_text, ((w - tw) // 2, h // 2), font, 0.45, (120, 120, 120), 1, cv2.LINE_AA)
        return img
    allpts = np.concatenate(list(clean.values()))
    x_lo, x_hi = float(allpts[:, 0].min()), float(allpts[:, 0].max())
    ys = np.log10(allpts[:, 1]) if log_y else allpts[:, 1]
    y_lo, y_hi = float(ys.min()), float(ys.max())
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    if y_hi <= y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = 0.05 * (y_hi - y_lo)
    # Non-negative quantities (AP, tau) keep their axis at or above zero.
    y_lo, y_hi = (y_lo - pad if log_y or y_lo - pad >= 0 or y_lo < 0 else 0.0), y_hi + pad
    plot_w, plot_h = w - left - right, h - top - bottom

    def to_px(x, y):
        y = np.log10(y) if log_y else y
        return (int(round(left + plot_w * (x - x_lo) / (x_hi - x_lo))),
                int(round(top + plot_h * (1.0 - (y - y_lo) / (y_hi - y_lo)))))

    for tick in np.linspace(y_lo, y_hi, 5):
        y = int(round(top + plot_h * (1.0 - (tick - y_lo) / (y_hi - y_lo))))
        cv2.line(img, (left, y), (w - right, y), (225, 225, 225), 1)
        label = f"{10 ** tick:.2g}" if log_y else f"{tick:.3g}"
        cv2.putText(img, label, (2, y + 4), font, 0.33, (80, 80, 80), 1, cv2.LINE_AA)
    for tick in np.linspace(x_lo, x_hi, 5):
        x = int(round(left + plot_w * (tick - x_lo) / (x_hi - x_lo)))
        cv2.putText(img, f"{tick:.4g}", (x - 10, h - bottom + 13), font, 0.33, (80, 80, 80), 1, cv2.LINE_AA)
    if xlabel:
        cv2.putText(img, xlabel, (left + plot_w // 2 - 20, h - 4), font, 0.38, (40, 40, 40), 1, cv2.LINE_AA)
    colors = _palette(max(len(clean), 1), saturation=200, value=200)
    for i, (name, pts) in enumerate(clean.items()):
        color = tuple(int(c) for c in colors[i])
        pixels = np.array([to_px(x, y) for x, y in pts], dtype=np.int32)
        if len(pixels) > 1:
            cv2.polylines(img, [pixels.reshape(-1, 1, 2)], False, color, 1, cv2.LINE_AA)
        if len(pixels) <= 40:
            for p in pixels:
                cv2.circle(img, (int(p[0]), int(p[1])), 2, color, -1, cv2.LINE_AA)
        (tw, _), _ = cv2.getTextSize(name, font, 0.38, 1)
        ly = top + 12 + 14 * i
        cv2.line(img, (w - right - tw - 26, ly - 4), (w - right - tw - 8, ly - 4), color, 2)
        cv2.putText(img, name, (w - right - tw - 4, ly), font, 0.38, color, 1, cv2.LINE_AA)
    cv2.line(img, (left, top), (left, h - bottom), (0, 0, 0), 1)
    cv2.line(img, (left, h - bottom), (w - right, h - bottom), (0, 0, 0), 1)
    return img
