import numpy as np
import pytest

from posedy.data.seeding import SampleRng


def test_sample_rng_is_default_rng():
    rng = np.random.default_rng(7)
    make = SampleRng()
    lists = [[0, 0, 0], [0, 3, 12], [2**32 - 1, 5, 123456], [], [9], [1, 2], [4, 3, 2, 1]]
    lists += [[int(v) for v in rng.integers(0, 2**32, int(rng.integers(0, 5)))] for _ in range(2000)]
    for entropy in lists:
        want, got = np.random.default_rng(entropy), make(entropy)
        assert got.bit_generator.state == want.bit_generator.state, entropy
        assert got.random() == want.random() and got.standard_normal() == want.standard_normal()
        assert got.integers(0, 2**31 - 1) == want.integers(0, 2**31 - 1)


@pytest.mark.parametrize("entropy", [[2**40, 1, 2], [1, 2, 3, 4, 5], [np.int64(3), 1, 2]])
def test_sample_rng_falls_back_to_default_rng(entropy):
    assert SampleRng()(entropy).bit_generator.state == np.random.default_rng(entropy).bit_generator.state


def test_sample_rng_rejects_what_default_rng_rejects():
    with pytest.raises(ValueError):
        SampleRng()([0, 0, -1])
