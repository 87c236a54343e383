"""Seeded inputs of the HRNet equivalence tests (``test_hrnet_equivalence.py``).

The same functions produced the inputs that HRNet's own functions were run on to record
``data/hrnet_reference.npz`` (see ``data/README.md``), so only HRNet's outputs are stored.
Everything is drawn from ``np.random.default_rng`` (PCG64), whose streams NumPy keeps stable.
"""

import numpy as np

NUM_JOINTS = 17
DECODE_SIZES = ((48, 64), (24, 32))  # heatmap (w, h)
DECODE_BATCH = 64
TARGET_SIGMAS = (2.0, 1.5)
TARGET_SAMPLES = 4
IMAGE_SIZE = (192, 256)
HEATMAP_SIZE = (48, 64)


def decode_case(heatmap_size):
    """Heatmaps with peaks anywhere, and the crops they came from.

    A quarter of the peaks sit on border rows/columns or one pixel inside (px = 1 or
    W - 2, py = 1 or H - 2), some maps are all negative, some are flat zero, and some have
    equal neighbours on one axis.

    Returns:
        heatmaps (N, K, H, W) float32; center (N, 2) float32 image px; scale (N, 2)
        float32 crop ``(w, h)`` in image px.
    """
    w, h = heatmap_size
    rng = np.random.default_rng([2020, w, h])
    n, k = DECODE_BATCH, NUM_JOINTS
    hms = rng.normal(0.0, 0.02, (n, k, h, w)).astype(np.float32)
    px = rng.integers(0, w, (n, k))
    py = rng.integers(0, h, (n, k))
    border = rng.random((n, k)) < 0.25
    px = np.where(border & (rng.random((n, k)) < 0.5), rng.choice([0, 1, w - 2, w - 1], (n, k)), px)
    py = np.where(border & (rng.random((n, k)) < 0.5), rng.choice([0, 1, h - 2, h - 1], (n, k)), py)
    yy, xx = np.mgrid[0:h, 0:w]
    sub = rng.uniform(-0.5, 0.5, (n, k, 2))
    amp = rng.uniform(0.05, 1.0, (n, k))
    bump = np.exp(-((xx - (px + sub[..., 0])[..., None, None]) ** 2
                    + (yy - (py + sub[..., 1])[..., None, None]) ** 2) / 8.0)
    hms += (amp[..., None, None] * bump).astype(np.float32)
    kind = rng.random((n, k))
    hms[kind < 0.06] = -np.abs(hms[kind < 0.06]) - 0.01
    hms[(kind >= 0.06) & (kind < 0.08)] = 0.0
    # Equal neighbours: the x step must be 0 where the peak has a plateau on both sides.
    ties = np.argwhere((kind >= 0.08) & (kind < 0.14))
    for i, j in ties:
        y, x = py[i, j], px[i, j]
        hms[i, j, y, x] = 2.0
        hms[i, j, y, max(x - 1, 0)] = 1.0
        hms[i, j, y, min(x + 1, w - 1)] = 1.0
    center = rng.uniform(20.0, 640.0, (n, 2)).astype(np.float32)
    box_w = rng.uniform(20.0, 600.0, n)
    scale = np.stack([box_w, box_w * h / w], axis=1).astype(np.float32)
    return hms, center, scale


def target_case(sample: int):
    """Crop-pixel joints of one sample: anywhere, on the border and just outside it.

    Returns:
        joints (K, 2) float64 crop px; visibility (K,) float64 in {0, 1, 2}.
    """
    rng = np.random.default_rng([2021, sample])
    wi, hi = IMAGE_SIZE
    edges_x = np.array([0.0, -1.0, -2.0, -2.1, -3.0, -21.9, -24.0, -26.0, -27.0, -28.0, -30.0, -34.0,
                        wi - 1.0, wi - 2.1, wi + 0.0, wi + 1.9, wi + 22.0, wi + 25.0, wi + 28.0])
    edges_y = np.array([0.0, -1.0, -2.0, -3.0, -24.0, -26.0, -28.0, -30.0, hi - 1.0, hi - 2.1,
                        hi + 0.0, hi + 1.9, hi + 25.0, hi + 28.0])
    x = rng.uniform(-40.0, wi + 40.0, NUM_JOINTS)
    y = rng.uniform(-40.0, hi + 40.0, NUM_JOINTS)
    pick = rng.random(NUM_JOINTS)
    x = np.where(pick < 0.5, rng.choice(edges_x, NUM_JOINTS), x)
    y = np.where((pick > 0.3) & (pick < 0.8), rng.choice(edges_y, NUM_JOINTS), y)
    vis = rng.choice([0.0, 1.0, 2.0], NUM_JOINTS, p=[0.15, 0.25, 0.6])
    return np.stack([x, y], axis=1), vis


def box_case():
    """A COCO keypoints annotation dict whose person boxes cross every image border.

    Image and annotation ids increase in file order, so HRNet's file order equals posedy's
    sorted order. Some boxes are narrower than one pixel, start right of or below the
    image, or have zero ``area``.

    Returns:
        dict with ``images``, ``annotations``, ``categories``.
    """
    rng = np.random.default_rng(2022)
    images = [{"id": 100 + i, "file_name": f"{100 + i}.jpg", "width": int(wh[0]), "height": int(wh[1])}
              for i, wh in enumerate(rng.integers(200, 700, (6, 2)))]
    anns = []
    for img in images:
        for _ in range(8):
            bw, bh = rng.choice([0.0, 0.5, 1.0, 7.3, 60.0, 250.0]), rng.choice([0.0, 0.4, 1.0, 90.0, 400.0])
            if rng.random() < 0.5:
                bw, bh = rng.uniform(1.0, 300.0), rng.uniform(1.0, 400.0)
            x = rng.uniform(-80.0, img["width"] + 20.0)
            y = rng.uniform(-80.0, img["height"] + 20.0)
            kps = np.zeros((NUM_JOINTS, 3))
            kps[:, :2] = rng.uniform(1, 100, (NUM_JOINTS, 2)).round(1)
            kps[:, 2] = 2
            area = 0.0 if rng.random() < 0.1 else round(float(bw * bh * 0.6) + 1.0, 2)
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": 1, "iscrowd": 0,
                         "area": area, "bbox": [round(float(v), 2) for v in (x, y, bw, bh)],
                         "keypoints": kps.reshape(-1).tolist(), "num_keypoints": NUM_JOINTS})
    category = {"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(NUM_JOINTS)],
                "skeleton": [[1, 2]]}
    return {"images": images, "annotations": anns, "categories": [category]}


def detection_case(coco_dict):
    """Detection results for ``box_case``'s images, boxes reaching past the image.

    Returns:
        list of ``{"image_id", "category_id", "bbox", "score"}`` dicts.
    """
    rng = np.random.default_rng(2023)
    dets = []
    for img in coco_dict["images"]:
        for _ in range(10):
            bw, bh = rng.uniform(0.5, 400.0), rng.uniform(0.5, 500.0)
            x = rng.uniform(-100.0, img["width"])
            y = rng.uniform(-100.0, img["height"])
            dets.append({"image_id": img["id"], "category_id": 1,
                         "bbox": [float(v) for v in (x, y, bw, bh)], "score": float(rng.uniform(0.05, 1.0))})
    return dets


def nms_case():
    """Poses of 40 images with few distinct scores, so equal scores are common.

    Candidates of one image are jittered copies of 1-3 people, so many pairs have OKS above
    0.9 and which of two tied candidates survives decides the result. Image sizes go past
    16 candidates (where NumPy's default sort is no longer an insertion sort).

    Returns:
        poses (N, K, 3) float64 ``(x, y, score)``; scores (N,) float64; areas (N,) float64;
        image_ids (N,) int64 (contiguous per image, increasing).
    """
    rng = np.random.default_rng(2024)
    poses, scores, areas, image_ids = [], [], [], []
    for image in range(40):
        count = int(rng.choice([1, 2, 5, 9, 16, 17, 24, 40]))
        people = rng.uniform(50.0, 500.0, (int(rng.integers(1, 4)), NUM_JOINTS, 2))
        who = rng.integers(0, len(people), count)
        jitter = rng.normal(0.0, rng.choice([0.5, 2.0, 6.0], count)[:, None, None], (count, NUM_JOINTS, 2))
        xy = people[who] + jitter
        poses.append(np.concatenate([xy, rng.uniform(0.0, 1.0, (count, NUM_JOINTS, 1))], axis=2))
        scores.append(rng.choice([0.25, 0.5, 0.5, 0.75, 0.9], count))
        areas.append(rng.uniform(4e3, 4e4, count))
        image_ids.append(np.full(count, 1000 + image))
    return (np.concatenate(poses), np.concatenate(scores), np.concatenate(areas),
            np.concatenate(image_ids).astype(np.int64))
