"""The one loader of YAML and JSON inputs: duplicate keys refused, size and nesting bounded.

``yaml.safe_load`` and ``json.load`` accept a key given twice (the last one silently wins),
expand YAML aliases without bound (an 867-byte "billion laughs" file becomes gigabytes once
copied) and recurse once per nesting level (thousands of levels end in ``RecursionError``).
Every YAML and JSON file posedy reads goes through ``parse_yaml`` / ``parse_json`` instead,
which raise ``InputFormatError`` with one line; callers prefix the file name and turn it into
their own error type (``ConfigError``, ``DataError``).
"""

import json

import yaml

# Far above anything a config (depth 3) or a COCO file (depth 4) needs.
MAX_DEPTH = 64
# Values after alias expansion; a COCO train file has ~10^7 values, a config ~10^2.
MAX_YAML_VALUES = 100_000
MAX_YAML_ALIASES = 64


class InputFormatError(ValueError):
    """Malformed structure of a YAML or JSON input; the message is one line without the file name."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and bounds aliases."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise InputFormatError(f"more than {MAX_YAML_ALIASES} YAML aliases (line {mark.line + 1}); "
                                       f"write the values out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hashable = key in seen
                except TypeError:
                    continue
                if hashable:
                    raise InputFormatError(f"key {key!r} is given twice in one mapping (lines "
                                           f"{seen[key] + 1} and {key_node.start_mark.line + 1})")
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str):
    """Parse YAML text strictly (see the module doc).

    Raises:
        InputFormatError: duplicate key, too many aliases, too deep or too large once expanded.
        yaml.YAMLError: not YAML at all (with a ``problem_mark``).
    """
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise InputFormatError(f"nested more than {MAX_DEPTH} levels deep") from None
    check_structure(data, max_values=MAX_YAML_VALUES)
    return data


def _refuse_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise InputFormatError(f"key {key!r} is given twice in one object")
        out[key] = value
    return out


def parse_json_bytes(raw: bytes):
    """Parse JSON strictly: duplicate keys refused, nesting bounded.

    Raises:
        InputFormatError: duplicate key or too deep.
        json.JSONDecodeError, UnicodeDecodeError: not JSON.
    """
    try:
        data = json.loads(raw, object_pairs_hook=_refuse_duplicates)
    except RecursionError:
        raise InputFormatError(f"nested more than {MAX_DEPTH} levels deep") from None
    check_structure(data, max_values=None)
    return data


def check_structure(data, *, max_depth: int = MAX_DEPTH, max_values=None) -> None:
    """Raise InputFormatError when ``data`` nests deeper than ``max_depth`` or, counting shared
    (aliased) containers once per reference, holds more than ``max_values`` values."""
    count = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > max_depth:
            raise InputFormatError(f"nested more than {max_depth} levels deep")
        count += len(children)
        if max_values is not None and count > max_values:
            raise InputFormatError(f"expands to more than {max_values} values (YAML aliases?)")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
