import pytest

from posedy.data.synthetic import SyntheticSpec, make_synthetic_coco

TINY = SyntheticSpec(train_images=6, val_images=3)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A tiny synthetic COCO dataset shared by the data tests (read-only by convention)."""
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_coco(root, seed=3, spec=TINY)
    return root
