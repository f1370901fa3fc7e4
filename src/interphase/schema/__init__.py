"""Domain models. This package imports nothing else from interphase."""

from __future__ import annotations

from interphase.schema.campaign import CampaignSpec
from interphase.schema.design_space import Design, DesignSpace, canonical_hash, canonical_json
from interphase.schema.errors import (
    ConflictError,
    ImmutableRecordError,
    InterphaseError,
    InvalidInputError,
    NotFoundError,
    StoreUnavailableError,
)
from interphase.schema.loading import load_model_file, parse_model, read_structured_file
from interphase.schema.observables import OBSERVABLES, Observable, ObservableRegistry
from interphase.schema.protocol import Protocol, StopRule
from interphase.schema.provenance import Provenance
from interphase.schema.records import (
    Cost,
    FailureKind,
    Observation,
    Request,
    RequestStatus,
    Result,
    ResultStatus,
    SourceSpec,
    Technique,
)
from interphase.schema.target import Objective, ObservableBound, TargetSpec
from interphase.schema.variables import CategoricalVariable, ContinuousVariable, IntegerVariable

__all__ = [
    "OBSERVABLES", "CampaignSpec", "CategoricalVariable", "ConflictError", "ContinuousVariable",
    "Cost", "Design", "DesignSpace", "FailureKind", "ImmutableRecordError", "IntegerVariable",
    "InterphaseError", "InvalidInputError", "NotFoundError", "Objective", "Observable",
    "ObservableBound", "ObservableRegistry", "Observation", "Protocol", "Provenance", "Request",
    "RequestStatus", "Result", "ResultStatus", "SourceSpec", "StopRule", "StoreUnavailableError",
    "TargetSpec", "Technique", "canonical_hash", "canonical_json", "load_model_file",
    "parse_model", "read_structured_file",
]
