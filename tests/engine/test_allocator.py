"""glibc malloc tuning for training: applied where the C library is glibc, harmless elsewhere."""

import platform

import pytest

from posedy.engine import allocator


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert allocator.keep_freed_memory() is True


def test_every_threshold_refused_is_reported(monkeypatch):
    class RefusingLibc:
        def __init__(self):
            self.calls = []

        @property
        def mallopt(self):
            def mallopt(param, value):
                self.calls.append((param, value))
                return 0
            return mallopt

    libc = RefusingLibc()
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: "libc.so.6")
    assert allocator.keep_freed_memory() is False
    assert libc.calls == [(allocator.M_MMAP_THRESHOLD, v) for v in allocator.MMAP_THRESHOLDS]


def test_no_c_library_means_no_tuning(monkeypatch):
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert allocator.keep_freed_memory() is False
