"""The store: one SQLAlchemy implementation serving SQLite and PostgreSQL.

Every write is one transaction: a result and all its observations land together
or not at all. Results, observations, artifacts, decisions and the status log are
append-only; triggers in the database reject UPDATE and DELETE on them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from interphase.schema import (
    CampaignSpec,
    ConflictError,
    Design,
    ImmutableRecordError,
    InvalidInputError,
    NotFoundError,
    Observation,
    Protocol,
    Request,
    RequestStatus,
    Result,
    ResultStatus,
    SourceSpec,
    StoreUnavailableError,
    canonical_hash,
)
from interphase.schema.records import utc_now
from interphase.store import migrate
from interphase.store.critical import signals_deferred
from interphase.store.engine import make_engine, resolve_url
from interphase.store.leases import require_held
from interphase.store.queue import ResultRefusedError
from interphase.store.records import (
    CampaignLease,
    StatusEntry,
    StoredArtifact,
    StoredCampaign,
    StoredDecision,
    StoredDesign,
    StoredRequest,
    StoredResult,
    StoredSource,
)
from interphase.store.tables import (
    ArtifactRow,
    Base,
    CampaignRow,
    DecisionRow,
    DesignRow,
    ObservationRow,
    RequestRow,
    ResultRow,
    SourceRow,
    StatusLogRow,
)

OPEN = (RequestStatus.QUEUED.value, RequestStatus.CLAIMED.value, RequestStatus.RUNNING.value)
"""Request statuses that still wait for their result."""

TABLES = ("campaigns", "designs", "sources", "requests", "results", "observations", "artifacts",
          "decisions", "status_log", "cycle_chunks", "stop_orders")


def _new_id() -> str:
    return uuid.uuid4().hex


def design_id_for(campaign_id: str | None, design: Design) -> str:
    """Content address of a design within a campaign (or among imported cells)."""
    key = f"{campaign_id or ''}|{design.content_hash()}|{design.label or ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Store:
    """The single source of truth of a campaign, on SQLite or PostgreSQL.

    Args:
        url: A SQLAlchemy URL or a SQLite file path; None uses ``INTERPHASE_DB`` or
            ``./interphase.db``.

    Example:
        >>> store = Store("sqlite:///campaign.db")
        >>> store.init()

    """

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        self.engine: Engine = make_engine(self.url)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def display_url(self) -> str:
        """The URL with any password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    # ----------------------------------------------------------------- schema

    def init(self) -> str:
        """Create or upgrade the schema to the newest revision; returns the revision."""
        with signals_deferred(), self._translate():
            migrate.upgrade(self.engine)
        return migrate.head_revision()

    def exists(self) -> bool:
        """Whether the database is there: False only for a SQLite file that does not exist.

        Asking a missing SQLite file for anything creates it empty; ask this first to avoid that.
        """
        if self.backend != "sqlite":
            return True
        database = self.engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return True
        return Path(database).exists()

    def revision(self) -> str | None:
        """The schema revision of the database, or None if it was never initialised."""
        with self._translate():
            return migrate.current_revision(self.engine)

    def require_initialised(self) -> None:
        """Raise a clear error when the database has no interphase schema yet.

        Raises:
            NotFoundError: Naming the command that initialises it.

        """
        current = self.revision()
        if current is None:
            raise NotFoundError(f"database {self.display_url()} is not initialised; run 'interphase db init'")
        if current != migrate.head_revision():
            raise NotFoundError(
                f"database is at schema {current}, this interphase needs {migrate.head_revision()}; "
                "run 'interphase db migrate'"
            )

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with signals_deferred(), self._translate(), Session(self.engine, expire_on_commit=False) as session, \
                session.begin():
            yield session

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Turn driver errors into interphase errors that say whether a retry helps."""
        try:
            yield
        except (IntegrityError, OperationalError, DBAPIError) as exc:
            message = str(exc.orig) if exc.orig is not None else str(exc)
            if "is immutable" in message:
                raise ImmutableRecordError(message.splitlines()[0]) from exc
            if isinstance(exc, IntegrityError):
                raise
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise StoreUnavailableError(message.splitlines()[0]) from exc
            raise

    # -------------------------------------------------------------- campaigns

    def create_campaign(self, spec: CampaignSpec) -> StoredCampaign:
        """Store a campaign; the same name with the same spec returns the stored one.

        Raises:
            ConflictError: If a campaign of that name exists with a different spec.

        """
        payload = spec.model_dump(mode="json")
        try:
            with self._session() as session:
                row = CampaignRow(id=_new_id(), name=spec.name, spec=payload, created_at=utc_now())
                session.add(row)
                self._log(session, "campaign", row.id, "created", spec.name)
            return self._campaign(row)
        except IntegrityError:
            existing = self.get_campaign(spec.name)
            if canonical_hash(existing.spec.model_dump(mode="json")) != canonical_hash(payload):
                raise ConflictError(
                    f"campaign {spec.name!r} already exists with a different specification"
                ) from None
            return existing

    def get_campaign(self, name: str) -> StoredCampaign:
        """Look a campaign up by name.

        Raises:
            NotFoundError: If there is none; the message lists the known names.

        """
        with self._session() as session:
            row = session.scalar(select(CampaignRow).where(CampaignRow.name == name))
            if row is None:
                known = session.scalars(select(CampaignRow.name).order_by(CampaignRow.name)).all()
                raise NotFoundError(
                    f"no campaign named {name!r}; known: {', '.join(known) or 'none'}"
                )
            return self._campaign(row)

    def list_campaigns(self) -> list[StoredCampaign]:
        """All campaigns, oldest first."""
        with self._session() as session:
            rows = session.scalars(select(CampaignRow).order_by(CampaignRow.created_at)).all()
            return [self._campaign(r) for r in rows]

    @staticmethod
    def _campaign(row: CampaignRow) -> StoredCampaign:
        return StoredCampaign(id=row.id, spec=CampaignSpec.model_validate(row.spec),
                              created_at=row.created_at)

    # ---------------------------------------------------------------- designs

    def add_designs(self, campaign: str | None, designs: Sequence[Design]) -> list[StoredDesign]:
        """Store designs, all or none; designs already stored are returned as they are.

        Args:
            campaign: Campaign name; its design space validates every design. None
                stores cells that belong to no campaign (imported files).
            designs: The designs.

        Returns:
            The stored designs, in input order.

        Raises:
            InvalidInputError: If any design breaks the campaign's design space; the
                message names the design's position and the field. Nothing is written.

        """
        campaign_row = self.get_campaign(campaign) if campaign is not None else None
        checked: list[Design] = []
        for position, design in enumerate(designs):
            if campaign_row is not None:
                try:
                    design = campaign_row.spec.design_space.validate_design(design.values, design.label)
                except InvalidInputError as exc:
                    raise InvalidInputError(f"designs.{position}.{exc.field}", exc.problem) from None
            checked.append(design)
        campaign_id = campaign_row.id if campaign_row else None
        with self._session() as session:
            stored = [self._ensure_design(session, campaign_id, d) for d in checked]
        return [self._design(row, campaign) for row in stored]

    def _ensure_design(self, session: Session, campaign_id: str | None, design: Design) -> DesignRow:
        design_id = design_id_for(campaign_id, design)
        row = session.get(DesignRow, design_id)
        if row is None:
            row = DesignRow(id=design_id, campaign_id=campaign_id, values=dict(design.values),
                            values_hash=design.content_hash(), label=design.label,
                            created_at=utc_now())
            session.add(row)
            session.flush()
        return row

    def get_design(self, design_id: str) -> StoredDesign:
        """Look a design up by id.

        Raises:
            NotFoundError: If there is none.

        """
        with self._session() as session:
            row = session.get(DesignRow, design_id)
            if row is None:
                raise NotFoundError(f"no design with id {design_id!r}")
            campaign = session.get(CampaignRow, row.campaign_id) if row.campaign_id else None
            return self._design(row, campaign.name if campaign else None)

    def list_designs(self, campaign: str | None = None) -> list[StoredDesign]:
        """Designs, oldest first; only one campaign's when ``campaign`` is given."""
        with self._session() as session:
            query = select(DesignRow, CampaignRow.name).outerjoin(CampaignRow)
            if campaign is not None:
                query = query.where(CampaignRow.name == campaign)
            rows = session.execute(query.order_by(DesignRow.created_at, DesignRow.id)).all()
            return [self._design(row, name) for row, name in rows]

    @staticmethod
    def _design(row: DesignRow, campaign: str | None) -> StoredDesign:
        return StoredDesign(id=row.id, campaign=campaign,
                            design=Design(values=row.values, label=row.label),
                            created_at=row.created_at)

    # ---------------------------------------------------------------- sources

    def register_source(self, spec: SourceSpec) -> StoredSource:
        """Store a source at its version; re-registering the same spec is a no-op.

        Raises:
            ConflictError: If the same name and version was stored with another spec.

        """
        source_id = f"{spec.name}@{spec.version}"
        payload = spec.model_dump(mode="json")
        try:
            with self._session() as session:
                row = session.get(SourceRow, source_id)
                if row is None:
                    row = SourceRow(id=source_id, name=spec.name, version=spec.version,
                                    technique=spec.technique.value, fidelity=spec.fidelity,
                                    spec=payload, created_at=utc_now())
                    session.add(row)
        except IntegrityError:
            pass  # registered concurrently; compared below
        with self._session() as session:
            row = session.get(SourceRow, source_id)
            assert row is not None
            if canonical_hash(row.spec) != canonical_hash(payload):
                raise ConflictError(
                    f"source {source_id!r} is already registered with a different specification; "
                    "bump its version"
                )
            return self._source(row)

    def get_source(self, name: str, version: str | None = None) -> StoredSource:
        """The source of that name at ``version``, or its newest registration.

        Raises:
            NotFoundError: If no such source is registered.

        """
        with self._session() as session:
            query = select(SourceRow).where(SourceRow.name == name)
            if version is not None:
                query = query.where(SourceRow.version == version)
            row = session.scalars(query.order_by(SourceRow.created_at.desc())).first()
            if row is None:
                known = sorted(set(session.scalars(select(SourceRow.name)).all()))
                raise NotFoundError(
                    f"no source {name!r}{'@' + version if version else ''}; known: "
                    f"{', '.join(known) or 'none'}"
                )
            return self._source(row)

    def list_sources(self) -> list[StoredSource]:
        """All registered sources, by name then version."""
        with self._session() as session:
            rows = session.scalars(select(SourceRow).order_by(SourceRow.name, SourceRow.created_at))
            return [self._source(r) for r in rows]

    @staticmethod
    def _source(row: SourceRow) -> StoredSource:
        return StoredSource(id=row.id, spec=SourceSpec.model_validate(row.spec),
                            created_at=row.created_at)

    # --------------------------------------------------------------- requests

    def create_request(self, request: Request) -> StoredRequest:
        """Queue a request; the same idempotency key and payload return the same request.

        Raises:
            ConflictError: If the key was used for a different payload.
            NotFoundError: If the campaign, design or source does not exist.

        """
        payload_hash = request.payload_hash()
        existing = self._request_by_key(request.idempotency_key)
        if existing is None:
            campaign = self.get_campaign(request.campaign)
            source = self.get_source(request.source)
            design = self.get_design(request.design_id)
            if design.campaign != request.campaign:
                raise InvalidInputError(
                    "design_id",
                    f"design {request.design_id} does not belong to campaign {request.campaign!r}",
                )
            try:
                with self._session() as session:
                    row = RequestRow(
                        id=_new_id(), campaign_id=campaign.id, design_id=request.design_id,
                        source_id=source.id, protocol=request.protocol.model_dump(mode="json"),
                        seed=request.seed, idempotency_key=request.idempotency_key,
                        payload_hash=payload_hash, status=RequestStatus.QUEUED.value,
                        created_at=utc_now(),
                    )
                    session.add(row)
                    self._log(session, "request", row.id, RequestStatus.QUEUED, request.idempotency_key)
                return self.get_request(row.id)
            except IntegrityError:
                existing = self._request_by_key(request.idempotency_key)
                if existing is None:
                    raise
        stored, stored_hash = existing
        if stored_hash != payload_hash:
            raise ConflictError(
                f"idempotency key {request.idempotency_key!r} was already used for a different request"
            )
        return stored

    def _request_by_key(self, key: str) -> tuple[StoredRequest, str] | None:
        with self._session() as session:
            row = session.scalar(select(RequestRow).where(RequestRow.idempotency_key == key))
            return None if row is None else (self._request(session, row), row.payload_hash)

    def get_request(self, request_id: str) -> StoredRequest:
        """Look a request up by id.

        Raises:
            NotFoundError: If there is none.

        """
        with self._session() as session:
            row = session.get(RequestRow, request_id)
            if row is None:
                raise NotFoundError(f"no request with id {request_id!r}")
            return self._request(session, row)

    def list_requests(self, campaign: str | None = None,
                      status: RequestStatus | None = None) -> list[StoredRequest]:
        """Requests, oldest first, filtered by campaign and status."""
        with self._session() as session:
            query = (select(RequestRow, CampaignRow.name, SourceRow.name)
                     .join(CampaignRow, CampaignRow.id == RequestRow.campaign_id)
                     .join(SourceRow, SourceRow.id == RequestRow.source_id))
            if campaign is not None:
                query = query.where(CampaignRow.name == campaign)
            if status is not None:
                query = query.where(RequestRow.status == status.value)
            rows = session.execute(query.order_by(RequestRow.created_at, RequestRow.id)).all()
            return [self._request(session, row, names=(campaign_name, source_name))
                    for row, campaign_name, source_name in rows]

    def claim_next_request(self, worker: str, sources: Iterable[str] | None = None,
                           campaign: str | None = None) -> StoredRequest | None:
        """Claim the oldest queued request, with a lease (see :class:`~interphase.store.queue.WorkQueue`).

        Args:
            worker: Name of the claiming worker (a channel, a process).
            sources: Only claim requests for these source names.
            campaign: Only claim requests of this campaign.

        Returns:
            The claimed request, or None when nothing is queued.

        """
        from interphase.store.queue import WorkQueue

        claims = WorkQueue(self).claim(worker, sources=sources, campaign=campaign)
        return claims[0].request if claims else None

    def claim_request(self, request_id: str, worker: str, *,
                      lease: CampaignLease | None = None) -> StoredRequest:
        """Claim one queued request for the campaign's own process, without a lease that expires.

        The campaign lease covers the claim: while the engine holds its campaign, nothing
        re-queues the requests it runs itself.

        Args:
            request_id: The request.
            worker: Name of the claiming worker.
            lease: The campaign lease the caller must still hold, checked in the same
                transaction (a fence); None claims without that check.

        Raises:
            ConflictError: If the request is not queued (claimed already, or finished).
            NotFoundError: If there is no such request.
            LeaseLostError: If ``lease`` is no longer held; nothing is written.
        """
        from interphase.store.queue import WorkQueue

        return WorkQueue(self).claim_request(request_id, worker, lease=lease, expiring=False).request

    def heartbeat(self, request_id: str, worker: str) -> None:
        """Mark a claimed request as still being worked on by ``worker``.

        Raises:
            ConflictError: If the request is not claimed by ``worker``.

        """
        from interphase.store.queue import LIVE

        with self._session() as session:
            changed = session.execute(
                update(RequestRow)
                .where(RequestRow.id == request_id, RequestRow.claimed_by == worker,
                       RequestRow.status.in_(LIVE))
                .values(heartbeat_at=utc_now())
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed != 1:
                raise ConflictError(f"request {request_id} is not claimed by {worker!r}")

    def _request(self, session: Session, row: RequestRow,
                 names: tuple[str, str] | None = None) -> StoredRequest:
        """The record of a request row; ``names`` (campaign, source) when the query joined them."""
        if names is None:
            campaign = session.get(CampaignRow, row.campaign_id)
            source = session.get(SourceRow, row.source_id)
            assert campaign is not None and source is not None
            names = (campaign.name, source.name)
        return StoredRequest(
            id=row.id, campaign=names[0], design_id=row.design_id, source=names[1],
            protocol=Protocol.model_validate(row.protocol), seed=row.seed,
            idempotency_key=row.idempotency_key, status=RequestStatus(row.status),
            claimed_by=row.claimed_by, created_at=row.created_at, attempts=row.attempts or 0,
            claimed_at=row.claimed_at, heartbeat_at=row.heartbeat_at, lease_expires_at=row.lease_expires_at,
        )

    # ---------------------------------------------------------------- results

    def submit_result(self, result: Result, *, idempotency_key: str, request_id: str | None = None,
                      campaign: str | None = None, supersedes: str | None = None,
                      lease: CampaignLease | None = None, claim_token: str | None = None) -> StoredResult:
        """Store a result and all its observations in one transaction.

        Args:
            result: The result.
            idempotency_key: Resubmitting with this key and the same payload returns the
                stored result; with another payload it raises.
            request_id: The request this answers; it is marked done or failed.
            campaign: Campaign name, when there is no request (e.g. an import).
            supersedes: Id of the result this one corrects.
            lease: The campaign lease the caller must still hold, checked in the same
                transaction (a fence); None stores without that check.
            claim_token: The request lease the poster holds (:mod:`interphase.store.queue`);
                the result is accepted only while the request is still held with it.

        Returns:
            The stored result.

        Raises:
            ConflictError: Key reused with another payload, or the result to correct
                was already corrected.
            ResultRefusedError: The request has its result already, or ``claim_token`` no
                longer holds it; nothing is written.
            NotFoundError: Unknown source, campaign, request or superseded result.
            LeaseLostError: If ``lease`` is no longer held; nothing is written.

        """
        # The key stands for this payload sent to this target: the same data for another
        # request, campaign or superseded record is a different submission.
        payload_hash = canonical_hash({"result": result.payload_hash(), "request": request_id,
                                       "campaign": campaign, "supersedes": supersedes})
        existing = self._result_by_key(idempotency_key)
        if existing is not None:
            return self._check_same(existing, payload_hash, idempotency_key)
        source = self.get_source(result.source, result.provenance.source_version)
        request = self.get_request(request_id) if request_id else None
        campaign_name = request.campaign if request else campaign
        campaign_row = self.get_campaign(campaign_name) if campaign_name else None
        if supersedes is not None:
            self.get_result(supersedes)
        result_id = _new_id()
        try:
            with self._session() as session:
                if lease is not None:
                    require_held(session, lease)
                design = self._ensure_design(session, campaign_row.id if campaign_row else None,
                                             result.design)
                if request is not None and request.design_id != design.id:
                    raise InvalidInputError(
                        "design", f"result design {design.id} differs from request design {request.design_id}"
                    )
                session.add(ResultRow(
                    id=result_id, request_id=request_id,
                    campaign_id=campaign_row.id if campaign_row else None, design_id=design.id,
                    source_id=source.id, status=result.status.value,
                    failure_kind=result.failure_kind.value if result.failure_kind else None,
                    message=result.message,
                    protocol=result.protocol.model_dump(mode="json") if result.protocol else None,
                    cycles_run=result.cycles_run, cost_lab_hours=result.cost.lab_hours,
                    cost_cpu_seconds=result.cost.cpu_seconds, seed=result.provenance.seed,
                    params_hash=result.provenance.params_hash,
                    provenance=result.provenance.model_dump(mode="json"), meta=result.metadata,
                    n_observations=len(result.observations), idempotency_key=idempotency_key,
                    payload_hash=payload_hash, supersedes_id=supersedes, lease_token=claim_token,
                    created_at=utc_now(),
                ))
                session.flush()
                if result.observations:
                    session.execute(ObservationRow.__table__.insert(), [
                        {"result_id": result_id, "observable": o.observable, "index": o.index,
                         "index_unit": o.index_unit, "value": o.value, "std": o.std, "unit": o.unit}
                        for o in result.observations
                    ])
                self._log(session, "result", result_id, result.status, result.message[:500])
                if request is not None:
                    self._settle_request(session, request.id, result, result_id, claim_token)
        except IntegrityError as exc:
            existing = self._result_by_key(idempotency_key)
            if existing is not None:
                return self._check_same(existing, payload_hash, idempotency_key)
            if supersedes is not None and "supersedes" in str(exc.orig):
                raise ConflictError(f"result {supersedes} was already corrected") from None
            raise InvalidInputError("observations", f"rejected by the database: {exc.orig}") from None
        return self.get_result(result_id)

    def _settle_request(self, session: Session, request_id: str, result: Result, result_id: str,
                        claim_token: str | None) -> None:
        """End the request with its one result, by compare-and-set on its status (and lease token).

        Raises:
            ResultRefusedError: If the request has ended already or ``claim_token`` no longer holds it.
        """
        if result.failure_kind:
            final = RequestStatus.FAILED
        elif result.status is ResultStatus.STOPPED:
            final = RequestStatus.STOPPED
        else:
            final = RequestStatus.DONE
        query = update(RequestRow).where(RequestRow.id == request_id, RequestRow.status.in_(OPEN))
        if claim_token is not None:
            query = query.where(RequestRow.lease_token == claim_token)
        settled = session.execute(query.values(status=final.value, lease_token=None, lease_expires_at=None)
                                  .execution_options(synchronize_session=False)).rowcount
        if settled != 1:
            status = session.scalar(select(RequestRow.status).where(RequestRow.id == request_id))
            why = (f"it has its result already ({status})" if status not in OPEN
                   else "the poster no longer holds its lease")
            raise ResultRefusedError(f"request {request_id}: result refused: {why}")
        self._log(session, "request", request_id, final, result_id)

    def correct_result(self, result_id: str, corrected: Result, *, idempotency_key: str) -> StoredResult:
        """Store a correction of a result as a new record that links to the old one.

        The old record is unchanged; listings skip it unless asked for superseded ones.
        """
        old = self.get_result(result_id)
        return self.submit_result(corrected, idempotency_key=idempotency_key,
                                  campaign=old.campaign, supersedes=result_id)

    def _check_same(self, existing: tuple[str, str], payload_hash: str, key: str) -> StoredResult:
        result_id, stored_hash = existing
        if stored_hash != payload_hash:
            raise ConflictError(f"idempotency key {key!r} was already used for a different result")
        return self.get_result(result_id)

    def _result_by_key(self, key: str) -> tuple[str, str] | None:
        with self._session() as session:
            row = session.execute(
                select(ResultRow.id, ResultRow.payload_hash).where(ResultRow.idempotency_key == key)
            ).first()
            return None if row is None else (row[0], row[1])

    def result_ids_for_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """Map each idempotency key the store already holds to its result id.

        Args:
            keys: Idempotency keys to look up.

        Returns:
            ``{key: result_id}`` for the keys found; keys not stored are absent.

        """
        unique = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        with self._session() as session:
            for start in range(0, len(unique), 500):
                rows = session.execute(select(ResultRow.idempotency_key, ResultRow.id).where(
                    ResultRow.idempotency_key.in_(unique[start:start + 500])))
                found.update({key: result_id for key, result_id in rows})
        return found

    def get_result(self, result_id: str) -> StoredResult:
        """A result with its observations.

        Raises:
            NotFoundError: If there is none.

        """
        with self._session() as session:
            row = session.get(ResultRow, result_id)
            if row is None:
                raise NotFoundError(f"no result with id {result_id!r}")
            return self._results(session, [row])[0]

    def result_of_request(self, request_id: str) -> StoredResult | None:
        """The result that answered a request, or None while it has none."""
        with self._session() as session:
            result_id = session.scalar(select(ResultRow.id).where(ResultRow.request_id == request_id,
                                                                 ResultRow.supersedes_id.is_(None)))
        return None if result_id is None else self.get_result(result_id)

    def list_results(self, campaign: str | None = None, source: str | None = None,
                     include_superseded: bool = False) -> list[StoredResult]:
        """Results with observations, oldest first.

        Args:
            campaign: Only this campaign's results.
            source: Only this source's results (any version).
            include_superseded: Also return results that a correction replaced.

        """
        with self._session() as session:
            query = select(ResultRow)
            if campaign is not None:
                query = query.join(CampaignRow, ResultRow.campaign_id == CampaignRow.id).where(
                    CampaignRow.name == campaign)
            if source is not None:
                query = query.join(SourceRow).where(SourceRow.name == source)
            rows = session.scalars(query.order_by(ResultRow.created_at, ResultRow.id)).all()
            stored = self._results(session, list(rows))
        if include_superseded:
            return stored
        return [s for s in stored if s.superseded_by is None]

    def _results(self, session: Session, rows: list[ResultRow]) -> list[StoredResult]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        observations: dict[str, list[Observation]] = {i: [] for i in ids}
        superseded_by: dict[str, str] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            for obs in session.scalars(select(ObservationRow).where(ObservationRow.result_id.in_(chunk))
                                       .order_by(ObservationRow.id)):
                observations[obs.result_id].append(Observation(
                    observable=obs.observable, index=obs.index, index_unit=obs.index_unit,
                    value=obs.value, std=obs.std, unit=obs.unit))
            for new_id, old_id in session.execute(
                    select(ResultRow.id, ResultRow.supersedes_id).where(ResultRow.supersedes_id.in_(chunk))):
                superseded_by[old_id] = new_id
        designs = {d.id: d for d in session.scalars(select(DesignRow).where(
            DesignRow.id.in_({r.design_id for r in rows})))}
        campaigns = {row.id: row.name for row in session.execute(select(CampaignRow.id, CampaignRow.name))}
        sources = {s.id: s.name for s in session.scalars(select(SourceRow))}
        out = []
        for row in rows:
            design = designs[row.design_id]
            result = Result(
                source=sources[row.source_id], design=Design(values=design.values, label=design.label),
                protocol=Protocol.model_validate(row.protocol) if row.protocol else None,
                status=row.status, failure_kind=row.failure_kind, message=row.message,
                observations=tuple(observations[row.id]), provenance=row.provenance,
                cost={"lab_hours": row.cost_lab_hours, "cpu_seconds": row.cost_cpu_seconds},
                cycles_run=row.cycles_run, metadata=row.meta,
            )
            out.append(StoredResult(
                id=row.id, request_id=row.request_id,
                campaign=campaigns.get(row.campaign_id) if row.campaign_id else None,
                design_id=row.design_id, idempotency_key=row.idempotency_key,
                supersedes_id=row.supersedes_id, superseded_by=superseded_by.get(row.id),
                result=result, created_at=row.created_at,
            ))
        return out

    # -------------------------------------------------------------- artifacts

    def put_artifact(self, data: bytes, kind: str, media_type: str = "application/octet-stream",
                     metadata: dict[str, Any] | None = None) -> str:
        """Store a blob under its SHA-256; storing the same bytes again is a no-op.

        Returns:
            The hex SHA-256 of ``data``.

        """
        digest = hashlib.sha256(data).hexdigest()
        try:
            with self._session() as session:
                if session.get(ArtifactRow, digest) is None:
                    session.add(ArtifactRow(sha256=digest, kind=kind, media_type=media_type,
                                            size_bytes=len(data), data=data, meta=metadata or {},
                                            created_at=utc_now()))
        except IntegrityError:
            pass  # the same bytes were stored concurrently
        return digest

    def list_artifacts(self, kind: str | None = None) -> list[StoredArtifact]:
        """Artifacts (without their bytes), oldest first; only ``kind`` if given."""
        with self._session() as session:
            query = select(ArtifactRow.sha256, ArtifactRow.kind, ArtifactRow.media_type,
                           ArtifactRow.size_bytes, ArtifactRow.meta, ArtifactRow.created_at)
            if kind is not None:
                query = query.where(ArtifactRow.kind == kind)
            rows = session.execute(query.order_by(ArtifactRow.created_at, ArtifactRow.sha256)).all()
        return [StoredArtifact(sha256=r[0], kind=r[1], media_type=r[2], size_bytes=r[3], metadata=r[4] or {},
                               created_at=r[5]) for r in rows]

    def get_artifact(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``.

        Raises:
            NotFoundError: If there is none.

        """
        with self._session() as session:
            row = session.get(ArtifactRow, sha256)
            if row is None:
                raise NotFoundError(f"no artifact {sha256}")
            return row.data

    # -------------------------------------------------------------- decisions

    def log_decision(self, campaign: str, chosen: dict[str, Any], runners_up: list[Any],
                     reason: str, request_id: str | None = None, *,
                     lease: CampaignLease | None = None) -> StoredDecision:
        """Append one agent decision with its scores and a one-line reason.

        Args:
            campaign: Campaign name.
            chosen: The chosen option (JSON-able).
            runners_up: The options it beat (JSON-able).
            reason: One line for people.
            request_id: The request the decision is about, if one.
            lease: The campaign lease the caller must still hold, checked in the same
                transaction (a fence); None logs without that check.

        Raises:
            LeaseLostError: If ``lease`` is no longer held; nothing is written.
        """
        campaign_row = self.get_campaign(campaign)
        with self._session() as session:
            if lease is not None:
                require_held(session, lease)
            row = DecisionRow(id=_new_id(), campaign_id=campaign_row.id, request_id=request_id,
                              chosen=chosen, runners_up=runners_up, reason=reason,
                              created_at=utc_now())
            session.add(row)
        return StoredDecision(id=row.id, campaign=campaign, request_id=request_id, chosen=chosen,
                              runners_up=runners_up, reason=reason, created_at=row.created_at)

    def launch(self, campaign: str, requests: Sequence[Request], chosen: dict[str, Any],
               runners_up: list[Any], reason: str, *,
               lease: CampaignLease | None = None) -> tuple[StoredDecision, list[StoredRequest]]:
        """Queue requests and log the decision that made them, in one transaction.

        A crash leaves either the decision and all its requests, or neither, so a resumed
        campaign never finds a run without the decision that explains it (or the reverse).
        ``chosen["runs"][i]["request_id"]`` is set to the id of ``requests[i]`` when
        ``chosen`` has such a list. With ``lease``, the transaction first checks that the
        caller still holds the campaign (a fence against a second engine).

        Raises:
            ConflictError: If a request's idempotency key is already used.
            NotFoundError: If the campaign, a design or a source does not exist.
            InvalidInputError: If a design belongs to another campaign.
            LeaseLostError: If ``lease`` is no longer held; nothing is written.
        """
        campaign_row = self.get_campaign(campaign)
        rows = []
        for request in requests:
            if request.campaign != campaign:
                raise InvalidInputError("campaign",
                                        f"request for {request.campaign!r}, decision for {campaign!r}")
            design = self.get_design(request.design_id)
            if design.campaign != campaign:
                raise InvalidInputError("design_id", f"design {request.design_id} does not belong to "
                                        f"campaign {campaign!r}")
            rows.append(RequestRow(
                id=_new_id(), campaign_id=campaign_row.id, design_id=request.design_id,
                source_id=self.get_source(request.source).id,
                protocol=request.protocol.model_dump(mode="json"), seed=request.seed,
                idempotency_key=request.idempotency_key, payload_hash=request.payload_hash(),
                status=RequestStatus.QUEUED.value, created_at=utc_now()))
        chosen = dict(chosen)
        if isinstance(chosen.get("runs"), list) and len(chosen["runs"]) == len(rows):
            chosen["runs"] = [{**run, "request_id": row.id}
                              for run, row in zip(chosen["runs"], rows, strict=True)]
        try:
            with self._session() as session:
                if lease is not None:
                    require_held(session, lease)
                for row, request in zip(rows, requests, strict=True):
                    session.add(row)
                    self._log(session, "request", row.id, RequestStatus.QUEUED, request.idempotency_key)
                session.flush()  # the decision refers to its request
                decision = DecisionRow(id=_new_id(), campaign_id=campaign_row.id,
                                       request_id=rows[0].id if len(rows) == 1 else None, chosen=chosen,
                                       runners_up=runners_up, reason=reason, created_at=utc_now())
                session.add(decision)
        except IntegrityError:
            raise ConflictError("a request of this decision reuses an idempotency key") from None
        stored = StoredDecision(id=decision.id, campaign=campaign, request_id=decision.request_id,
                                chosen=chosen, runners_up=runners_up, reason=reason,
                                created_at=decision.created_at)
        return stored, [self.get_request(row.id) for row in rows]

    def list_decisions(self, campaign: str) -> list[StoredDecision]:
        """A campaign's decisions, oldest first."""
        campaign_row = self.get_campaign(campaign)
        with self._session() as session:
            rows = session.scalars(select(DecisionRow).where(DecisionRow.campaign_id == campaign_row.id)
                                   .order_by(DecisionRow.created_at, DecisionRow.id))
            return [StoredDecision(id=r.id, campaign=campaign, request_id=r.request_id, chosen=r.chosen,
                                   runners_up=r.runners_up, reason=r.reason, created_at=r.created_at)
                    for r in rows]

    # ------------------------------------------------------------ status log

    @staticmethod
    def _log(session: Session, entity: str, entity_id: str, status: str, detail: str) -> None:
        session.add(StatusLogRow(entity=entity, entity_id=entity_id, status=str(status),
                                 detail=detail, at=utc_now()))

    def status_history(self, entity_id: str) -> list[StatusEntry]:
        """Every status change of one request, result or campaign, oldest first."""
        with self._session() as session:
            rows = session.scalars(select(StatusLogRow).where(StatusLogRow.entity_id == entity_id)
                                   .order_by(StatusLogRow.id))
            return [StatusEntry(entity=r.entity, entity_id=r.entity_id, status=r.status,
                                detail=r.detail, at=r.at) for r in rows]

    # ----------------------------------------------------------- maintenance

    def counts(self) -> dict[str, int]:
        """Row count of every table (zeros before ``init``)."""
        existing = set(inspect(self.engine).get_table_names())
        with self._session() as session:
            return {t: (session.scalar(select(func.count()).select_from(Base.metadata.tables[t]))
                        if t in existing else 0) or 0 for t in TABLES}

    def integrity_problems(self) -> list[str]:
        """Check the database: engine integrity, foreign keys, partial results.

        Returns:
            Problems found; empty when the store is sound.

        """
        problems: list[str] = []
        with self._session() as session:
            if self.backend == "sqlite":
                verdict = session.execute(text("PRAGMA integrity_check")).scalars().all()
                if verdict != ["ok"]:
                    problems.extend(f"integrity_check: {v}" for v in verdict)
                for row in session.execute(text("PRAGMA foreign_key_check")).all():
                    problems.append(f"foreign key: {tuple(row)}")
            counted = select(ObservationRow.result_id, func.count().label("n")).group_by(
                ObservationRow.result_id).subquery()
            partial = session.execute(
                select(ResultRow.id, ResultRow.n_observations, func.coalesce(counted.c.n, 0))
                .outerjoin(counted, counted.c.result_id == ResultRow.id)
                .where(ResultRow.n_observations != func.coalesce(counted.c.n, 0))
            ).all()
            problems.extend(f"result {rid}: {have} of {want} observations" for rid, want, have in partial)
        return problems

