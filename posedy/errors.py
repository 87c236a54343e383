"""The one error boundary of every tool, and the argparse value types the tools share.

Every ``tools/*.py`` decorates its ``main(argv)`` with ``tool_main``: whatever escapes the
tool becomes one line ``error: <file or flag>: <problem>`` on stderr and an exit code, so
that no input, however malformed, ends in a Python traceback. The traceback is printed
too when the environment variable ``POSEDY_DEBUG`` is set to a non-empty value other than 0.

Exit codes: 2 for a bad experiment YAML (``ConfigError``) and for command-line misuse
(argparse's own), 1 for everything else, 130 for Ctrl-C.
"""

import argparse
import errno
import functools
import math
import os
import sys
import traceback

DEBUG_ENV = "POSEDY_DEBUG"
EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a one-line message that says what was kept (raised by long-running loops)."""


def one_line_message(exc: BaseException) -> str:
    """The first line of ``exc``'s message; for an exception re-raised from a DataLoader worker
    (whose message carries the worker's whole traceback), the original exception's own line."""
    lines = str(exc).strip().splitlines()
    if len(lines) > 1 and lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        last = lines[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return lines[0] if lines else exc.__class__.__name__


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def describe_exception(exc: BaseException):
    """``(exit code, one-line message)`` for an exception that reached a tool's boundary."""
    from posedy.config import ConfigError

    if isinstance(exc, ConfigError):
        return 2, one_line_message(exc)
    if isinstance(exc, OSError):
        return 1, describe_os_error(exc)
    if isinstance(exc, MemoryError):
        return 1, "out of memory (an input or a config size is too large for this machine)"
    if isinstance(exc, RecursionError):
        return 1, "input nested too deeply to process"
    message = one_line_message(exc)
    if isinstance(exc, ValueError) and type(exc).__name__.endswith("Error") and type(exc) is not ValueError:
        # DataError, CheckpointError and the like: their messages already name the file.
        return 1, message
    if type(exc).__name__ == "TrainingError":
        return 1, message
    return 1, (f"unexpected {type(exc).__name__}: {message} (set {DEBUG_ENV}=1 for the traceback)")


def os_error_reason(exc: OSError) -> str:
    """Why an ``OSError`` happened, in a few words for ``<file>: cannot write (<reason>)``: the
    system's text (``strerror``), else the exception's own one-line message, else its class name."""
    return exc.strerror or one_line_message(exc)


def describe_os_error(exc: OSError) -> str:
    """``<file>: <reason>``, with ENOSPC spelt "no space left on device"."""
    if exc.errno == errno.ENOSPC:
        where = exc.filename or (str(exc.args[1]) if len(exc.args) > 2 else None)
        return f"{where}: no space left on device" if where else f"no space left on device ({exc})"
    if exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc.__class__.__name__}"
    return one_line_message(exc)


def tool_main(func):
    """Decorate a tool's ``main(argv) -> int``: exceptions become one ``error:`` line and an exit code.

    argparse's ``SystemExit`` passes through unchanged. ``KeyboardInterrupt`` prints one line
    (the ``Interrupted`` message when the loop that was stopped said what it kept) and returns 130.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SystemExit:
            raise
        except KeyboardInterrupt as exc:
            if debug_enabled():
                traceback.print_exc()
            said = one_line_message(exc) if str(exc) else ""
            print(f"error: interrupted{': ' + said if said else ''}; files already written are kept "
                  f"(every output is replaced whole or not at all)", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BaseException as exc:  # noqa: BLE001 - the boundary's whole purpose
            if debug_enabled():
                traceback.print_exc()
            code, message = describe_exception(exc)
            print(f"error: {message}", file=sys.stderr)
            return code

    return wrapper


# ---------------------------------------------------------------------------- argparse types
def _number(text: str, kind, flag_rule: str, test) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {flag_rule}") from None
    if (kind is float and not math.isfinite(value)) or not test(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {flag_rule}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _number(text, int, "an integer >= 1", lambda v: v >= 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, "an integer >= 0", lambda v: v >= 0)


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    return _number(text, float, "a finite number", lambda v: True)


def unit_float(text: str) -> float:
    """argparse type: a finite number in [0, 1]."""
    return _number(text, float, "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0)


def torch_device(text: str):
    """argparse type: a torch device that exists on this machine (``cpu``, ``cuda``, ``cuda:1``)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: no CUDA GPU is available on this machine (use cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    elif device.type != "cpu":
        raise argparse.ArgumentTypeError(f"{text!r}: only cpu and cuda devices are supported")
    return device
