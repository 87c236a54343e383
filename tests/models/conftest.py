import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """The model tests push tiny tensors through many layers; intra-op threads only add
    synchronisation (and spin badly on a busy 2-core machine), so run them on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
