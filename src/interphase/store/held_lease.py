"""Keeping a campaign lease: a heartbeat thread, a check before each step, release at every end.

A decision can take minutes (a model fit), so the heartbeat cannot wait for the engine's
loop: a daemon thread renews the lease every ``HEARTBEAT_INTERVAL_S`` through its own
connection (SQLite's pool opens one per session; PostgreSQL's pool is thread-safe). The
engine calls :meth:`HeldLease.ensure_held` at each step; when the last confirmed renewal is
older than the interval (the process was suspended, say), that call renews at once, so a
process woken after a take-over stops before it decides anything. :func:`hold_campaign`
releases the lease on a normal end, on an error and on Ctrl-C; a process killed outright
leaves it to the dead-holder rule of :func:`interphase.store.leases.why_dead`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from interphase.store.critical import signals_deferred
from interphase.store.leases import (
    LEASE_TTL_S,
    LeaseLostError,
    acquire_lease,
    current_lease,
    release_lease,
    renew_lease,
)
from interphase.store.records import CampaignLease

if TYPE_CHECKING:
    from interphase.store.sql import Store

HEARTBEAT_INTERVAL_S = 10.0


class HeldLease:
    """A lease this process holds, renewed by a background thread until :meth:`release`.

    Args:
        store: The store.
        lease: The lease :func:`~interphase.store.leases.acquire_lease` returned.
        interval_s: Seconds between heartbeats.
    """

    def __init__(self, store: Store, lease: CampaignLease, *,
                 interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.store, self.lease, self.interval_s = store, lease, interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._confirmed = time.monotonic()
        self._lost: LeaseLostError | None = None
        self._thread = threading.Thread(target=self._beat, name=f"lease:{lease.campaign}", daemon=True)

    def start(self) -> None:
        """Start the heartbeat thread."""
        self._thread.start()

    def ensure_held(self) -> None:
        """Raise if the lease was lost; renew first when the last renewal is older than the interval.

        Raises:
            LeaseLostError: If another process took the lease over (or released it).
        """
        if self._lost is None and time.monotonic() - self._confirmed > self.interval_s:
            self._renew()
        if self._lost is not None:
            raise self._lost

    def release(self) -> None:
        """Stop the heartbeat and give the lease up (best effort: a lease left behind goes stale)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._lost is None:
            try:
                release_lease(self.store, self.lease)
            except Exception:  # noqa: BLE001 - the store may be gone; the dead-holder rule frees it
                pass

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s) and self._lost is None:
            self._renew()

    def _renew(self) -> None:
        try:
            held = renew_lease(self.store, self.lease)
            lost = None if held else LeaseLostError(self.lease.campaign, current_lease(self.store,
                                                                                     self.lease.campaign))
        except Exception:  # noqa: BLE001 - a missed beat is retried; the TTL allows several
            return
        with self._lock:
            if held:
                self._confirmed = time.monotonic()
            elif self._lost is None:
                self._lost = lost


@contextmanager
def hold_campaign(store: Store, campaign: str, *, take_over: bool = False, ttl_s: float = LEASE_TTL_S,
                  interval_s: float = HEARTBEAT_INTERVAL_S) -> Iterator[HeldLease]:
    """Hold the campaign's lease for the duration of the block, renewed in the background.

    Args:
        store: An initialised store.
        campaign: Campaign name.
        take_over: Take the lease from a holder that looks alive (see ``acquire_lease``).
        ttl_s: Heartbeat age after which a holder counts as dead (seconds).
        interval_s: Seconds between heartbeats.

    Yields:
        The held lease.

    Raises:
        CampaignBusyError: If a live engine holds the campaign; nothing is written.
    """
    held = HeldLease(store, acquire_lease(store, campaign, take_over=take_over, ttl_s=ttl_s),
                     interval_s=interval_s)
    held.start()
    try:
        with _terminate_as_exit():
            yield held
    finally:
        with signals_deferred():  # a Ctrl-C landing in the release would leave the lease behind
            held.release()


TERMINATED_EXIT_CODE = 128 + signal.SIGTERM
"""The exit code of a process ended by SIGTERM, as a shell reports it."""


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM (``kill``, a service manager) into ``SystemExit``, so the lease is released.

    Only the main thread can set signal handlers; elsewhere SIGTERM keeps its meaning and
    the dead-holder rule frees the lease instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(TERMINATED_EXIT_CODE)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
