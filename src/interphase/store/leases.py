"""Campaign leases: one engine runs a campaign at a time, on SQLite and PostgreSQL.

A lease is one row per campaign in ``campaign_leases``: a random holder token, the host and
PID of the holding process, when it took the lease and its last heartbeat. It is runtime
state, not a record, so it lives outside the append-only tables and changes only by
compare-and-set on the holder token, as Optuna claims trials:

- *acquire*: in one transaction, read the row (``FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` serialises writers); insert it when there is none, or replace the
  holder with ``UPDATE ... WHERE holder = <the one read>`` when that holder is dead or the
  caller takes over; otherwise refuse with :class:`CampaignBusyError`. Two racing inserts
  hit the primary key, and the loser reads the winner's row.
- *renew* and *release*: ``UPDATE``/``DELETE ... WHERE holder = <mine>``; a row count of
  zero means the lease was taken over.
- *fence*: the engine's writes check, inside their own transaction, that the lease is
  still theirs (:func:`require_held`), so an engine that was paused and taken over stops
  at its next write instead of doubling work.

A holder is dead when it runs on this host and its PID is gone (or a zombie), or when its
heartbeat is older than the TTL, whatever the host. Times come from the database server on
PostgreSQL, so hosts with skewed clocks agree, and from this host on SQLite.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from interphase.schema import ConflictError, InterphaseError
from interphase.schema.records import utc_now
from interphase.store.records import CampaignLease
from interphase.store.tables import CampaignLeaseRow, StatusLogRow

if TYPE_CHECKING:
    from interphase.store.sql import Store

LEASE_TTL_S = 120.0
"""A heartbeat older than this marks its holder dead, on any host (seconds).

Heartbeats come every ``HEARTBEAT_INTERVAL_S`` from a thread of their own; a renewal may
wait up to SQLite's 60 s busy timeout, so the TTL allows a slow beat and more.
"""


class CampaignBusyError(ConflictError):
    """Another live engine holds the campaign.

    Args:
        lease: The holder's lease.
        now: The store's current time, for the age of the last heartbeat.
    """

    def __init__(self, lease: CampaignLease, now: datetime) -> None:
        self.lease = lease
        beat_s = max(0.0, (now - lease.heartbeat_at).total_seconds())
        super().__init__(f"campaign {lease.campaign!r} is running in process {lease.pid} "
                         f"on host {lease.host} since {_when(lease.acquired_at)} "
                         f"(last heartbeat {beat_s:.0f} s ago); "
                         "wait or use --take-over after it is dead")


class LeaseLostError(InterphaseError):
    """The engine's lease was taken over (or released) by another process; it must stop.

    Args:
        campaign: Campaign name.
        successor: The lease that replaced it, or None when there is none.
    """

    def __init__(self, campaign: str, successor: CampaignLease | None) -> None:
        self.successor = successor
        if successor is None:
            taken = "lost its lease (another process released it)"
        else:
            taken = (f"was taken over by process {successor.pid} on host {successor.host} "
                     f"at {_when(successor.acquired_at)}")
        super().__init__(f"campaign {campaign!r} {taken}; this process stops, and what it stored is kept")


def acquire_lease(store: Store, campaign: str, *, take_over: bool = False,
                  ttl_s: float = LEASE_TTL_S) -> CampaignLease:
    """Take the campaign's lease for this process by compare-and-set.

    A free lease is taken; a dead holder's (see :func:`why_dead`) is taken over and the
    take-over is written to the status log (entity ``lease``); a live holder's only with
    ``take_over``.

    Args:
        store: An initialised store.
        campaign: Campaign name (it need not be stored yet).
        take_over: Take the lease even from a holder that looks alive.
        ttl_s: Heartbeat age after which a holder counts as dead (seconds).

    Returns:
        The lease now held.

    Raises:
        CampaignBusyError: If a live engine holds it and ``take_over`` is false; nothing is written.
    """
    mine = {"holder": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(3):
        try:
            with store._session() as session:
                now = store_now(session)
                row = session.scalar(select(CampaignLeaseRow).where(CampaignLeaseRow.campaign == campaign)
                                     .with_for_update())
                if row is None:
                    session.add(CampaignLeaseRow(campaign=campaign, acquired_at=now, heartbeat_at=now,
                                                 **mine))
                    session.flush()
                    return CampaignLease(campaign=campaign, acquired_at=now, heartbeat_at=now, **mine)
                held = _lease(row)
                reason = why_dead(held, now=now, ttl_s=ttl_s)
                if reason is None and not take_over:
                    raise CampaignBusyError(held, now)
                replaced = session.execute(
                    update(CampaignLeaseRow)
                    .where(CampaignLeaseRow.campaign == campaign, CampaignLeaseRow.holder == held.holder)
                    .values(acquired_at=now, heartbeat_at=now, **mine)
                    .execution_options(synchronize_session=False)).rowcount
                if replaced == 1:
                    session.add(StatusLogRow(
                        entity="lease", entity_id=campaign, status="taken-over", at=utc_now(),
                        detail=f"from process {held.pid} on host {held.host} (holder since "
                               f"{_when(held.acquired_at)}): {reason or 'forced with --take-over'}"))
                    return CampaignLease(campaign=campaign, acquired_at=now, heartbeat_at=now, **mine)
        except IntegrityError:
            pass  # another process inserted the row first: read it again
    held = current_lease(store, campaign)
    if held is None:
        raise ConflictError(f"campaign {campaign!r}: its lease changed hands repeatedly; try again")
    raise CampaignBusyError(held, held.heartbeat_at)


def renew_lease(store: Store, lease: CampaignLease) -> bool:
    """Record a heartbeat; False when the lease is no longer this holder's."""
    with store._session() as session:
        now = store_now(session)
        return session.execute(
            update(CampaignLeaseRow)
            .where(CampaignLeaseRow.campaign == lease.campaign, CampaignLeaseRow.holder == lease.holder)
            .values(heartbeat_at=now).execution_options(synchronize_session=False)).rowcount == 1


def release_lease(store: Store, lease: CampaignLease) -> bool:
    """Give the lease up; False when it was no longer this holder's (then nothing changes)."""
    with store._session() as session:
        return session.execute(
            delete(CampaignLeaseRow)
            .where(CampaignLeaseRow.campaign == lease.campaign, CampaignLeaseRow.holder == lease.holder)
            .execution_options(synchronize_session=False)).rowcount == 1


def current_lease(store: Store, campaign: str) -> CampaignLease | None:
    """The campaign's lease, or None when no engine holds it."""
    with store._session() as session:
        row = session.get(CampaignLeaseRow, campaign)
        return None if row is None else _lease(row)


def require_held(session: Session, lease: CampaignLease) -> None:
    """Fence a write: raise unless ``lease`` still holds its campaign, within the write's transaction.

    On PostgreSQL the row is locked ``FOR SHARE`` until the write commits, so a take-over
    waits for it; on SQLite the write transaction already excludes every other writer.

    Raises:
        LeaseLostError: If another holder has the lease, or none has.
    """
    row = session.scalar(select(CampaignLeaseRow).where(CampaignLeaseRow.campaign == lease.campaign)
                         .with_for_update(read=True))
    if row is None or row.holder != lease.holder:
        raise LeaseLostError(lease.campaign, None if row is None else _lease(row))


def why_dead(lease: CampaignLease, *, now: datetime, ttl_s: float = LEASE_TTL_S) -> str | None:
    """Why the holder of ``lease`` is certainly gone, or None when it may be alive.

    Args:
        lease: The lease.
        now: The store's current time.
        ttl_s: Heartbeat age after which a holder counts as dead (seconds).

    Returns:
        A reason for people, or None.
    """
    beat_s = (now - lease.heartbeat_at).total_seconds()
    if beat_s > ttl_s:
        return f"its last heartbeat was {beat_s:.0f} s ago (the limit is {ttl_s:.0f} s)"
    if lease.host == socket.gethostname() and not process_alive(lease.pid):
        return f"process {lease.pid} is no longer running on this host"
    return None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal test is all there is
    return state not in ("Z", "X")


def store_now(session: Session) -> datetime:
    """The current time: the database server's on PostgreSQL (skewed hosts agree), else this host's."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(select(func.now())).astimezone(UTC)
    return utc_now()


def _lease(row: CampaignLeaseRow) -> CampaignLease:
    return CampaignLease(campaign=row.campaign, holder=row.holder, host=row.host, pid=row.pid,
                         acquired_at=row.acquired_at, heartbeat_at=row.heartbeat_at)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
