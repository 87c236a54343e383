"""Benchmarks run by tools/benchmark.py: each module exposes add_arguments(parser) and run(args) -> dict."""

import contextlib
import sys


@contextlib.contextmanager
def temporary_modules(modules: dict):
    """Bind ``sys.modules`` entries while a reference implementation (HRNet's code, imported from
    a checkout for side-by-side timing) loads, then restore what was there before."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
