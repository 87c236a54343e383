"""Import a command-line tool (``tools/<name>.py``; tools/ is not a package) so a test can call
its ``main(argv)`` in-process. Each call executes the file anew, so module state is fresh."""

import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str):
    """The module ``tools/<name>.py`` (``name`` without the ``.py``)."""
    spec = importlib.util.spec_from_file_location(f"posedy_tools_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
