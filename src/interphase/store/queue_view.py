"""What the work queue holds now, for people: requests queued or held, with their leases' ages.

Read-only: nothing here expires a lease or writes anything (``interphase queue`` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select

from interphase.schema import RequestStatus
from interphase.store.leases import store_now
from interphase.store.tables import CampaignRow, CycleChunkRow, RequestRow, SourceRow, StopOrderRow

if TYPE_CHECKING:
    from interphase.store.sql import Store

LIVE = (RequestStatus.CLAIMED.value, RequestStatus.RUNNING.value)
"""Statuses of a request a worker holds."""


@dataclass(frozen=True)
class QueueEntry:
    """One request that is queued or held, for ``interphase queue``.

    Attributes:
        request_id: The request.
        campaign: Its campaign.
        source: The source that must run it.
        status: ``queued``, ``claimed`` or ``running``.
        worker: The lease holder, None while queued.
        attempts: Claims so far.
        waiting_s: Seconds since it was queued (or re-queued, for its current wait).
        lease_age_s: Seconds since the current claim; None while queued.
        heartbeat_age_s: Seconds since the last heartbeat; None while queued.
        expires_in_s: Seconds until the lease lapses; None while queued.
        cycles_streamed: Highest cycle streamed by the current attempt (0 before any).
        stop_after: The stop order's cycle, if one was written.
    """

    request_id: str
    campaign: str
    source: str
    status: str
    worker: str | None
    attempts: int
    waiting_s: float
    lease_age_s: float | None
    heartbeat_age_s: float | None
    expires_in_s: float | None
    cycles_streamed: int
    stop_after: int | None


def queue_snapshot(store: Store, campaign: str | None = None) -> list[QueueEntry]:
    """Requests queued, claimed or running, oldest first, with their leases' ages.

    Args:
        store: The store.
        campaign: Only this campaign's requests (None: all).
    """
    with store._session() as session:
        now = store_now(session)
        query = (select(RequestRow, SourceRow.name, CampaignRow.name)
                 .join(SourceRow, SourceRow.id == RequestRow.source_id)
                 .join(CampaignRow, CampaignRow.id == RequestRow.campaign_id)
                 .where(RequestRow.status.in_((RequestStatus.QUEUED.value, *LIVE))))
        if campaign is not None:
            query = query.where(CampaignRow.name == campaign)
        rows = session.execute(query.order_by(RequestRow.created_at, RequestRow.id)).all()
        streamed = dict(session.execute(
            select(CycleChunkRow.request_id, func.max(CycleChunkRow.last_cycle))
            .join(RequestRow, and_(RequestRow.id == CycleChunkRow.request_id,
                                   RequestRow.attempts == CycleChunkRow.attempt))
            .where(RequestRow.status.in_(LIVE)).group_by(CycleChunkRow.request_id)).all())
        orders = dict(session.execute(select(StopOrderRow.request_id, StopOrderRow.after_cycle)
                                      .join(RequestRow, RequestRow.id == StopOrderRow.request_id)
                                      .where(RequestRow.status.in_(LIVE))).all())

        def age(moment: datetime | None) -> float | None:
            return None if moment is None else max(0.0, (now - moment).total_seconds())

        entries = []
        for row, source, campaign_name in rows:
            held = row.status in LIVE
            requeued = row.attempts > 0 and not held
            since = (row.heartbeat_at or row.created_at) if requeued else row.created_at
            entries.append(QueueEntry(
                request_id=row.id, campaign=campaign_name, source=source, status=row.status,
                worker=row.claimed_by if held else None, attempts=row.attempts,
                waiting_s=age(since) or 0.0,
                lease_age_s=age(row.claimed_at) if held else None,
                heartbeat_age_s=age(row.heartbeat_at) if held else None,
                expires_in_s=((row.lease_expires_at - now).total_seconds()
                              if held and row.lease_expires_at is not None else None),
                cycles_streamed=int(streamed.get(row.id, 0) or 0), stop_after=orders.get(row.id)))
        return entries

