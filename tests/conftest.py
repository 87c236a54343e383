"""Suite-wide settings: CPU tests of tiny tensors run fastest on one intra-op thread.

On a shared 2-core machine extra threads only add synchronisation (a tool test went from
13.6 s to 2.8 s). The environment variable reaches the subprocesses some tests start.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the environment is set for child processes)

torch.set_num_threads(1)


import pytest  # noqa: E402

from posedy.sample_data import ENV_VAR, coco_sample_available, coco_sample_dir  # noqa: E402


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def coco_sample():
    """The real COCO val2017 sample folder (``posedy.sample_data.coco_sample_dir()``).

    Skipped, with the folder named, when it is absent; under ``CI`` (where the shared folder is
    always present) a missing sample fails instead, so it cannot silently skip tests.
    """
    folder = coco_sample_dir()
    if not coco_sample_available(folder):
        message = (f"COCO sample absent: {folder} has no test_coco.json "
                   f"(set {ENV_VAR} to the folder holding it)")
        if _ci():
            pytest.fail(f"{message}; CI is set, so this is an error, not a skip", pytrace=False)
        pytest.skip(message)
    return folder
