"""Records the store holds: sources, requests, results, observations, provenance."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interphase.schema.design_space import Design, canonical_hash
from interphase.schema.errors import InvalidInputError
from interphase.schema.observables import INDEX_UNITS, OBSERVABLES
from interphase.schema.protocol import Protocol
from interphase.schema.provenance import Provenance


class Technique(StrEnum):
    """How a source produces data."""

    SIMULATION = "simulation"
    EXPERIMENT = "experiment"
    CHARACTERISATION = "characterisation"
    DATABASE = "database"
    MODEL = "model"


class RequestStatus(StrEnum):
    """Life cycle of a request; every transition is appended to the status log."""

    QUEUED = "queued"
    CLAIMED = "claimed"  # a worker holds its lease
    RUNNING = "running"  # the worker has begun it (first heartbeat or streamed cycles)
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"  # a stop order ended it early; its result keeps the cycles that ran
    CANCELLED = "cancelled"


class ResultStatus(StrEnum):
    """Outcome of a run."""

    SUCCEEDED = "succeeded"
    STOPPED = "stopped"  # ended early on purpose; the cycles run are kept
    FAILED = "failed"


class FailureKind(StrEnum):
    """Whether repeating a failed run could succeed."""

    TRANSIENT = "transient"  # a lost channel, a crashed worker: retry may help
    DETERMINISTIC = "deterministic"  # solver failure, short circuit: it will fail again


class Cost(BaseModel):
    """What a run costs before it starts.

    Attributes:
        lab_hours: Channel time in hours.
        cpu_seconds: Compute time in seconds.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab_hours: float = Field(default=0.0, ge=0.0)
    cpu_seconds: float = Field(default=0.0, ge=0.0)

    @property
    def clock_hours(self) -> float:
        """Hours a run holds its slot on a campaign's clock: its lab hours, else its CPU time.

        A source priced in lab hours holds a slot for those hours wherever it runs (a channel,
        or a CPU worker for an instrument without channels); one priced in CPU seconds alone,
        for that time. 0 for a run that costs nothing.
        """
        return self.lab_hours if self.lab_hours > 0 else self.cpu_seconds / 3600.0


class SourceSpec(BaseModel):
    """A source of data as the store knows it.

    Attributes:
        name: Registry name, e.g. ``"pybamm-spm"`` or ``"cycler:arbin"``.
        version: Version of the code or instrument behind it.
        technique: How it produces data.
        fidelity: Rank; higher is closer to the truth the campaign cares about.
        observables: Names of the observables it can produce.
        cost_model: Free-form description of the cost model's parameters.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120, pattern=r"^[a-z0-9][a-z0-9_\-:.]*$")
    version: str = Field(min_length=1, max_length=60)
    technique: Technique
    fidelity: int = Field(ge=0, le=100)
    observables: tuple[str, ...] = ()
    cost_model: dict[str, Any] = Field(default_factory=dict)

    @field_validator("observables")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(names):
            if name not in OBSERVABLES:
                raise InvalidInputError(
                    str(index), f"unknown observable {name!r}; known: {', '.join(OBSERVABLES.names)}")
        return names


class Observation(BaseModel):
    """One long-form value: an observable at an index (a cycle number, a time).

    Attributes:
        observable: Registered observable name.
        index: Cycle number or time or temperature, in ``index_unit``.
        index_unit: ``"cycle"``, ``"s"`` or ``"K"``.
        value: The value in the observable's canonical unit.
        std: Standard deviation of the value, if known, same unit.
        unit: The unit of ``value`` (must equal the observable's canonical unit).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    observable: str
    index: float
    index_unit: str = "cycle"
    value: float
    std: float | None = None
    unit: str

    @model_validator(mode="after")
    def _check(self) -> Observation:
        observable = OBSERVABLES.get(self.observable)
        if self.unit != observable.unit:
            raise InvalidInputError(
                "unit", f"{self.observable!r} is stored in {observable.unit!r}, got {self.unit!r}"
            )
        if self.index_unit not in INDEX_UNITS:
            raise InvalidInputError("index_unit", f"{self.index_unit!r}; allowed: {', '.join(INDEX_UNITS)}")
        if not math.isfinite(self.index):
            raise InvalidInputError("index", "must be finite")
        if not math.isfinite(self.value):
            raise InvalidInputError("value", f"{self.observable} at {self.index:g}: must be finite")
        if self.std is not None and not (math.isfinite(self.std) and self.std >= 0):
            raise InvalidInputError("std", f"must be a finite number >= 0, got {self.std!r}")
        return self


class Request(BaseModel):
    """Ask a source to run a design under a protocol.

    Attributes:
        campaign: Campaign name.
        design_id: Stored design id.
        source: Source name.
        protocol: The protocol to run.
        seed: Seed the source must use.
        idempotency_key: Repeating a create with this key returns the same request.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign: str
    design_id: str
    source: str
    protocol: Protocol
    seed: int = Field(ge=0, lt=2**63)
    idempotency_key: str = Field(min_length=1, max_length=200)

    def payload_hash(self) -> str:
        """Hash of everything but the key, to detect a key reused for another payload."""
        return canonical_hash(self.model_dump(mode="json", exclude={"idempotency_key"}))


class Result(BaseModel):
    """The outcome of one run: observations, or a failure, with provenance.

    Attributes:
        source: Name of the source that produced it.
        design: The design that was run.
        protocol: The protocol that was run (None for imported files without one).
        status: Succeeded, stopped early, or failed.
        failure_kind: Set exactly when ``status`` is failed.
        message: Why it failed or stopped; free text for people.
        observations: Long-form values.
        provenance: Versions, git sha, seed, parameter hash.
        cost: What the run actually cost.
        cycles_run: Cycles completed (a stopped or failed test keeps its prefix).
        metadata: Anything else worth keeping (file names, instrument ids).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    design: Design
    protocol: Protocol | None = None
    status: ResultStatus = ResultStatus.SUCCEEDED
    failure_kind: FailureKind | None = None
    message: str = ""
    observations: tuple[Observation, ...] = ()
    provenance: Provenance
    cost: Cost = Cost()
    cycles_run: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _failure_consistent(self) -> Result:
        if (self.status is ResultStatus.FAILED) != (self.failure_kind is not None):
            raise InvalidInputError(
                "failure_kind", "must be set when status is 'failed' and only then"
            )
        return self

    def payload_hash(self) -> str:
        """Hash of the scientific payload, to check idempotent resubmission.

        Environment fields of the provenance (package versions, git sha) are left out:
        re-sending the same data from an upgraded install is the same payload.
        """
        payload = self.model_dump(mode="json")
        payload["provenance"].pop("package_versions")
        payload["provenance"].pop("git_sha")
        return canonical_hash(payload)


def utc_now() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(UTC)
