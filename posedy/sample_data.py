"""Where the real COCO val2017 sample (4 images, 14 people, detection boxes) is found.

The sample is not part of the repository: it lives in ``../shared/data/coco_sample`` relative to
the repository root, or wherever the ``POSEDY_COCO_SAMPLE`` environment variable points. Tests
and benchmarks that need it skip without it (and fail under ``CI``, see ``tests/conftest.py``).
"""

import os
from pathlib import Path

ENV_VAR = "POSEDY_COCO_SAMPLE"
# The folder holds test_coco.json (annotations), test_coco_det_AP_H_56.json (boxes) and the JPEGs.
ANNOTATION_FILE = "test_coco.json"


def repository_root() -> Path:
    """The checkout this package was imported from (an editable install or ``PYTHONPATH``)."""
    return Path(__file__).resolve().parents[1]


def coco_sample_dir() -> Path:
    """``$POSEDY_COCO_SAMPLE`` if set, else ``<repository>/../shared/data/coco_sample`` (may not exist)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return repository_root().parent / "shared" / "data" / "coco_sample"


def coco_sample_available(folder: Path | None = None) -> bool:
    return ((folder or coco_sample_dir()) / ANNOTATION_FILE).is_file()
