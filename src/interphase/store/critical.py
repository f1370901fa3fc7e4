"""Store transactions that Ctrl-C and SIGTERM do not split.

Python raises ``KeyboardInterrupt`` (or a SIGTERM handler's ``SystemExit``) between any two
bytecodes. Raised inside a transaction, between SQLite's ``BEGIN IMMEDIATE`` and
SQLAlchemy taking note of it, it can leave a connection holding the database's write lock
while the exception unwinds, so that the process's last writes (releasing a campaign's
lease) wait out the busy timeout and fail. Within :func:`signals_deferred` both signals
are only noted, and raised again once the transaction has committed or rolled back.
Only the main thread receives Python's signal handlers, so in other threads this defers
nothing (and needs not).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_depth = 0
_caught: list[int] = []


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Note Ctrl-C and SIGTERM during the block; raise them again, in order, when it ends.

    Blocks nest; the signals are raised when the outermost one ends.
    """
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    previous = {number: signal.getsignal(number) for number in DEFERRED_SIGNALS}
    for number in DEFERRED_SIGNALS:
        signal.signal(number, _note)
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        caught, _caught[:] = list(_caught), []
        for number in caught:
            signal.raise_signal(number)


def _note(signum: int, _frame: object) -> None:
    _caught.append(signum)
