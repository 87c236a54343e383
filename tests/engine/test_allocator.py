"""glibc malloc tuning for training: applied where the C library is glibc, harmless elsewhere."""

import platform

import pytest

from posedy.engine import allocator


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert allocator.keep_freed_memory() is True


class FakeLibc:
    """mallopt that accepts a value up to ``limits[param]`` and remembers what is in force."""

    def __init__(self, limits):
        self.limits = limits
        self.settings = {}

    @property
    def mallopt(self):
        def mallopt(param, value):
            if value > self.limits.get(param, float("inf")):
                return 0
            self.settings[param] = value
            return 1
        return mallopt


def _with_libc(monkeypatch, libc):
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: "libc.so.6")


def test_every_threshold_refused_is_reported(monkeypatch):
    libc = FakeLibc({allocator.M_MMAP_THRESHOLD: 0})
    _with_libc(monkeypatch, libc)
    assert allocator.keep_freed_memory() is False
    # Nothing is in force: no mmap threshold, and the heap is not padded or kept without one.
    assert libc.settings == {}


def test_an_older_glibc_gets_the_largest_threshold_it_accepts(monkeypatch):
    libc = FakeLibc({allocator.M_MMAP_THRESHOLD: 32 * 2 ** 20})
    _with_libc(monkeypatch, libc)
    assert allocator.keep_freed_memory(trim_threshold=5 * 2 ** 20, top_pad=2 ** 20) is True
    assert libc.settings == {allocator.M_MMAP_THRESHOLD: 32 * 2 ** 20, allocator.M_TRIM_THRESHOLD: 5 * 2 ** 20,
                             allocator.M_TOP_PAD: 2 ** 20}


def test_no_c_library_means_no_tuning(monkeypatch):
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert allocator.keep_freed_memory() is False
