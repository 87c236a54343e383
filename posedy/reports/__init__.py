"""Documents generated from measurements (the tools in ``tools/`` write them)."""

from pathlib import Path

from posedy.fileio import atomic_write_text


def publish(text: str, markdown=None) -> None:
    """Print a generated table and, when ``markdown`` names a file, write it there too (whole
    or not at all; the folder is created)."""
    print(text)
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(markdown, text)
