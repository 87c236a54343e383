"""Small eager registries mapping the names a YAML file may use to builder functions.

A name registered twice is an error (two modules silently fighting over a name is worse than a
crash at import), and an unknown name is an error that lists what exists.
"""

from typing import Callable, Dict


class Registry:
    """Name -> callable. ``@REGISTRY.register("name")`` adds; ``REGISTRY.get("name")`` looks up.

    Args:
        kind: what the registry holds, used in error messages ("backbone", "head").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Callable] = {}

    def register(self, name: str) -> Callable[[Callable], Callable]:
        def add(fn: Callable) -> Callable:
            if name in self._items:
                raise KeyError(f"{self.kind} {name!r} is already registered (by {self._items[name].__module__})")
            self._items[name] = fn
            return fn
        return add

    def get(self, name: str) -> Callable:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}") from None

    def names(self):
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


BACKBONES = Registry("backbone")
HEADS = Registry("head")
