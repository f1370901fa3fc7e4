"""What the solver prints while it runs, kept for the result instead of reaching the terminal.

SUNDIALS (inside PyBaMM's IDAKLU solver) reports a failed step by writing from C to file
descriptor 2, e.g. ``[ERROR][rank 0][.../idas.c:5745][IDAHandleFailure] At t = 59157.48 and
h = ..., the corrector convergence failed repeatedly``. Redirecting ``sys.stderr`` in Python
does not reach it, and the text would land in the middle of the command's own output (the
campaign's live view) although the failure is already a failed result. So a solve runs with
fd 2 pointed at a temporary file, whose text is read back afterwards. PyBaMM's logger writes
through a handler bound to the original ``sys.stderr`` object, hence to fd 2, and is kept too.

Python code that looks ``sys.stderr`` up as it writes (rich's consoles: a spinner or the live
view refreshing from their own thread) is pointed at the terminal meanwhile, so that their
frames neither vanish nor end up in the record.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_LINES = 20
MAX_LINE_CHARS = 300
MAX_BYTES = 64_000
_LOCK = threading.Lock()  # fd 2 belongs to the process: one capture at a time
_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? - ")
_SUNDIALS = re.compile(  # [ERROR][rank 0][/path/idas.c:5745][IDAHandleFailure] At t = ...
    r"^\[(?P<level>[A-Z]+)\]\[rank \d+\]\[[^\]]*\]\[(?P<function>[^\]]*)\]\s*(?P<text>.*)$")


@dataclass
class SolverOutput:
    """The lines a solve printed on fd 2 (filled when the capture ends).

    Attributes:
        lines: Non-empty lines, repeats dropped, at most :data:`MAX_LINES` of at most
            :data:`MAX_LINE_CHARS` characters each.
    """

    lines: list[str] = field(default_factory=list)


@contextlib.contextmanager
def captured_solver_output() -> Iterator[SolverOutput]:
    """Run the block with file descriptor 2 captured; the lines are in the yielded object after it.

    Yields:
        The output, empty until the block ends.
    """
    output = SolverOutput()
    with _LOCK, tempfile.TemporaryFile() as sink:
        _flush()
        terminal = os.dup(2)
        python_stderr = sys.stderr
        try:
            sys.stderr = open(terminal, "w", closefd=False, encoding=getattr(python_stderr, "encoding", None),
                              errors="backslashreplace", buffering=1)
        except (OSError, ValueError):
            sys.stderr = python_stderr
        os.dup2(sink.fileno(), 2)
        try:
            yield output
        finally:
            _flush()
            os.dup2(terminal, 2)
            if sys.stderr is not python_stderr:
                sys.stderr.close()  # closefd=False: the duplicate is closed below
                sys.stderr = python_stderr
            os.close(terminal)
            sink.seek(0)
            output.lines = output_lines(sink.read(MAX_BYTES).decode("utf-8", errors="replace"))


def output_lines(text: str) -> list[str]:
    """Non-empty lines of ``text``, stripped, repeats dropped, shortened and capped.

    The clock time PyBaMM's logger puts before each line is dropped: a rerun of the same
    solve keeps the same record.
    """
    lines = dict.fromkeys(_LOG_TIME.sub("", line.strip())[:MAX_LINE_CHARS]
                          for line in text.splitlines() if line.strip())
    return list(lines)[:MAX_LINES]


def solver_summary(lines: list[str]) -> str | None:
    """The first SUNDIALS error of captured lines, as ``"function: text"``; None without one.

    The rank and source-file prefix SUNDIALS adds says nothing to a user, so it is dropped.
    """
    for line in lines:
        match = _SUNDIALS.match(line)
        if match is not None and match["level"] == "ERROR":
            return f"{match['function']}: {match['text']}"
    return None


def _flush() -> None:
    """Flush Python's and C's buffered streams, so that text goes where fd 2 pointed when it was written."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)
