"""Keep freed host memory for reuse (glibc malloc), so training steps stop re-faulting pages.

A CPU training step allocates and frees activations and gradients of tens of megabytes. glibc
serves such blocks with ``mmap`` and hands them back to the kernel on ``free``; the next step
gets fresh pages and pays a page fault per 4 KiB on first touch (a third of the step's time was
system time in ``tools/benchmark.py train-step`` on the 2-core development machine). Raising the
mmap threshold and the trim threshold keeps those blocks in the heap instead. The cost is that
the process keeps its peak heap instead of shrinking after it.
"""

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
# Blocks below this come from the heap. Older glibc refuses more than 32 MiB (half its
# per-thread heap size); then the largest accepted value is used.
MMAP_THRESHOLDS = (2 ** 30, 32 * 2 ** 20)


def keep_freed_memory(trim_threshold: int = 2 ** 30, top_pad: int = 2 ** 28) -> bool:
    """Tune glibc malloc for repeated large allocations; returns False where that is not glibc
    (or it refuses every setting).

    Args:
        trim_threshold: free heap bytes at the top kept before returning any to the kernel.
        top_pad: extra bytes requested whenever the heap grows.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not any(mallopt(M_MMAP_THRESHOLD, value) for value in MMAP_THRESHOLDS):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, trim_threshold) and mallopt(M_TOP_PAD, top_pad))
