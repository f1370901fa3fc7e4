"""Ctrl-C and SIGTERM wait for a store transaction to end, then arrive as they would have."""

from __future__ import annotations

import signal
import threading

import pytest

from interphase.store.critical import signals_deferred

pytestmark = pytest.mark.timeout(30)


def test_ctrl_c_inside_the_block_is_raised_when_it_ends() -> None:
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            signal.raise_signal(signal.SIGINT)
            reached_the_end = True
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nested_blocks_raise_once_the_outermost_ends() -> None:
    order: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            with signals_deferred():
                signal.raise_signal(signal.SIGINT)
                order.append("inner done")
            order.append("outer done")
    assert order == ["inner done", "outer done"]


def test_sigterm_goes_to_the_handler_in_force_after_the_block() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, _frame: seen.append(number))
    try:
        with signals_deferred():
            signal.raise_signal(signal.SIGTERM)
            assert seen == []
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_block_without_signals_changes_nothing() -> None:
    before = signal.getsignal(signal.SIGINT)
    with signals_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is before


def test_other_threads_run_their_blocks_untouched() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with signals_deferred():
                pass
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
