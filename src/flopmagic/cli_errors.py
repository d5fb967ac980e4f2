"""The command line's error contract, in one place.

Every failure of a ``flopmagic`` command is one line on stderr,
``flopmagic: error: <what went wrong and the fix>``, and exit status 2: a bad
option (argparse), a model or file flopmagic cannot read (its own errors), and
anything unforeseen (reported as an internal error with its type). ``--debug``,
anywhere on the command line, prints the traceback before that line. Ctrl-C
prints ``flopmagic: interrupted`` and exits 130, as shells expect; output piped
into a reader that closes early (``| head``) is not an error (exit 0).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from .errors import FlopmagicError

__all__ = ["DEBUG_FLAG", "EXIT_ERROR", "EXIT_INTERRUPTED", "OneLineParser", "one_line", "run_reporting", "split_debug"]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
# the one option this module adds: (flag, help), declared here so it moves with the others
DEBUG_FLAG = ("--debug", "on an error, print the traceback before the one-line message")
_LIMIT = 1000  # characters of an error message shown on its one line


def one_line(text: str, limit: int = _LIMIT) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class OneLineParser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"flopmagic: error: {one_line(message)} (see {self.prog} --help)\n")


def split_debug(argv: Sequence[str]) -> tuple[list[str], bool]:
    """Remove ``--debug`` wherever it is (before or after the subcommand)."""
    args = list(argv)
    debug = DEBUG_FLAG[0] in args
    return [a for a in args if a != DEBUG_FLAG[0]], debug


def run_reporting(command: Callable[[], int], *, debug: bool, err: TextIO | None = None) -> int:
    """Run a command; turn every failure into one line on ``err`` and exit status 2."""
    stream = err if err is not None else sys.stderr
    try:
        return command()
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        return 0
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc(file=stream)
        print("flopmagic: interrupted", file=stream)
        return EXIT_INTERRUPTED
    except FlopmagicError as error:
        if debug:
            traceback.print_exc(file=stream)
        print(f"flopmagic: error: {one_line(str(error))}", file=stream)
        return EXIT_ERROR
    except Exception as error:
        if debug:
            traceback.print_exc(file=stream)
            hint = ""
        else:
            hint = " (run with --debug for the traceback)"
        print(f"flopmagic: error: internal error: {type(error).__name__}: {one_line(str(error))}{hint}", file=stream)
        return EXIT_ERROR
