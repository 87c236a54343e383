"""docs/reliability.md: every row names a test that exists (function and parameter id)."""

import ast
import re

from reliability_helpers import ROOT

DOC = ROOT / "docs" / "reliability.md"
REF = re.compile(r"`(?:(tests/[\w/]+\.py|test_\w+\.py)::(\w+))?(\[[^\]`]+\])?`")


def _test_names(path):
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _rows():
    rows = []
    for line in DOC.read_text().splitlines():
        if re.match(r"\| \d+ \|", line):
            rows.append(line)
    return rows


def test_every_row_names_existing_tests():
    rows = _rows()
    assert len(rows) >= 25
    numbers = [int(row.split("|")[1]) for row in rows]
    assert numbers == list(range(1, len(rows) + 1))
    for row in rows:
        last = row.rstrip(" |").rsplit("|", 1)[1]
        refs = [m for m in REF.finditer(last) if m.group(2) or m.group(3)]
        assert refs, row
        current = None
        for m in refs:
            file, func, param = m.groups()
            if file is not None:
                path = ROOT / file if file.startswith("tests/") else ROOT / "tests" / "reliability" / file
                assert path.is_file(), (row, file)
                assert func in _test_names(path), (row, func)
                current = path
            assert current is not None, row
            if param:
                for part in param[1:-1].split("-"):
                    assert f'"{part}"' in current.read_text() or part.isdigit(), (row, param)


def compare_examples(log_path) -> list:
    """Rows whose example lines are not the lines the tests saw.

    ``log_path`` is a log written by ``POSEDY_RELIABILITY_LOG=LOG pytest tests/reliability``;
    ``…/`` in the doc matches any path prefix.
    """
    seen = {}
    for line in open(log_path):
        test, text = line.rstrip("\n").split("\t", 1)
        seen[test.replace("tests/reliability/", "")] = text
    problems = []
    for row in _rows():
        refs = re.findall(r"`(test_\w+\.py::\w+(?:\[[^\]]+\])?)`", row)
        for example in re.findall(r"`((?:tools/test\.py: )?(?:error|warning): [^`]*)`", row):
            pattern = re.escape(example).replace(re.escape("…"), ".*")
            if not any(re.fullmatch(pattern, seen.get(ref, "")) for ref in refs):
                problems.append(f"row {row.split('|')[1].strip()}: {example}")
    return problems


if __name__ == "__main__":
    import sys

    found = compare_examples(sys.argv[1])
    print("\n".join(found) or "all example lines match what the tests saw")
    sys.exit(1 if found else 0)
