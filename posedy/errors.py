"""Turning exceptions into the one-line messages the tools print."""


def one_line_message(exc: BaseException) -> str:
    """The first line of ``exc``'s message; for an exception re-raised from a DataLoader worker
    (whose message carries the worker's whole traceback), the original exception's own line."""
    lines = str(exc).strip().splitlines()
    if len(lines) > 1 and lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        last = lines[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return lines[0] if lines else exc.__class__.__name__
