"""Small eager registries mapping the names a YAML file may use to builder functions.

A name registered twice is an error (two modules silently fighting over a name is worse than a
crash at import), and an unknown name is an error that lists what exists.
"""

from typing import Callable, Dict, Optional

from posedy import architectures


class Registry:
    """Name -> callable. ``@REGISTRY.register("name")`` adds; ``REGISTRY.get("name")`` looks up.

    Args:
        kind: what the registry holds, used in error messages ("backbone", "head").
        table: the ``posedy.architectures`` table whose names it may hold (None: any name).
    """

    def __init__(self, kind: str, table: Optional[dict] = None):
        self.kind = kind
        self.table = table
        self._items: Dict[str, Callable] = {}

    def register(self, name: str) -> Callable[[Callable], Callable]:
        def add(fn: Callable) -> Callable:
            if self.table is not None and name not in self.table:
                raise KeyError(f"{self.kind} {name!r} is not in posedy.architectures (which says what its "
                               f"config settings are)")
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


BACKBONES = Registry("backbone", architectures.BACKBONES)
HEADS = Registry("head", architectures.HEADS)


def architecture_options(table: dict, what: str, name: str, settings: dict) -> dict:
    """The ``settings`` that architecture ``name`` takes, as its builder's keyword arguments.

    Raises:
        ValueError: a setting it does not take given a value other than its default, so a
            setting that means nothing for this model (``se`` for a ResNet) is not silently dropped.
    """
    taken = table[name].settings
    for key, value in architectures.unsupported_settings(table, name, settings):
        raise ValueError(f"{what} does not take {key} (got {value!r}); it takes "
                         f"{', '.join(taken) if taken else 'none of ' + ', '.join(settings)}")
    return {key: value for key, value in settings.items() if key in taken}
