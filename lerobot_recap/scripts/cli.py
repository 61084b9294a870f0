"""One error policy for every ``lerobot-recap-*`` command: bad input is one clear line on stderr and exit code 2.

A user who mistypes an option, points at a missing dataset or passes a constant out of range should read what is
wrong and how to fix it, not 40 lines of draccus or pyarrow traceback with the reason buried in the middle. Errors
that mean the input or the environment is wrong (``ValueError`` and its subclasses such as the project's
``DatasetError``, pyarrow's ``ArrowInvalid`` or ``json.JSONDecodeError``; ``OSError`` such as a missing or
unreadable file; draccus' parsing errors, which wrap the ``ValueError`` a config's ``__post_init__`` raised) become
``<command>: error: <reason>``. Anything else is a bug and keeps its traceback. ``LEROBOT_RECAP_DEBUG=1`` shows the
traceback of input errors too.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import draccus

INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, draccus.utils.DraccusException)
"""What counts as bad input (or a broken environment) rather than a bug."""

EXIT_BAD_INPUT = 2
"""The exit code of a refused input, as argparse uses for a bad command line."""

DEBUG_ENV = "LEROBOT_RECAP_DEBUG"


def innermost_reason(error: BaseException) -> BaseException:
    """The error to show: draccus wraps a config's own ValueError in a generic "Couldn't instantiate" error.

    Only draccus' wrappers are looked through; an error of this project that wraps another (``raise
    ValueError("cannot open the CAN channel ...") from err``) already says what to do and is shown as it is.
    """
    reason = error
    while isinstance(reason, draccus.utils.DraccusException):
        cause = reason.__cause__ or (None if reason.__suppress_context__ else reason.__context__)
        if cause is None or not isinstance(cause, INPUT_ERRORS):
            break
        reason = cause
    return reason


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message keeps its first line and says how many follow)."""
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in text:
        text = f"{text}: {error.filename}"
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else text
    return f"{lines[0]} (+{len(lines) - 1} more lines: rerun with {DEBUG_ENV}=1 for the details)"


def run_cli(command: Callable[[], Any], name: str) -> Any:
    """Run a parsed-and-dispatched command (e.g. a ``@parser.wrap()`` function); bad input exits 2 with one line."""
    try:
        return command()
    except INPUT_ERRORS as error:
        if os.environ.get(DEBUG_ENV):
            raise
        reason = innermost_reason(error)
        logging.getLogger(__name__).debug("%s failed", name, exc_info=error)
        print(f"{name}: error: {one_line(reason)}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
