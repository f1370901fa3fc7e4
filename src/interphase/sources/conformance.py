"""The contract every source must meet, as checks a plugin author can run on their own source.

Like scikit-learn's ``parametrize_with_checks``: ``tests/integration/test_source_conformance.py``
runs :func:`check_source` on every registered source, and a plugin's own tests can too.
"""

from __future__ import annotations

import math

from interphase.schema import (
    OBSERVABLES,
    Cost,
    InvalidInputError,
    Protocol,
    Result,
    ResultStatus,
    SourceSpec,
)
from interphase.sources.base import Source, run_safely

CONFORMANCE_CYCLES = 3


def short_protocol(source: Source, n_cycles: int = CONFORMANCE_CYCLES) -> Protocol:
    """The source's default protocol cut to a few cycles, for quick checks."""
    if source.default_protocol is None:
        raise AssertionError(f"{source.name}: default_protocol is not set")
    return source.default_protocol.model_copy(
        update={"n_cycles": min(n_cycles, source.default_protocol.n_cycles)})


def check_spec(source: Source, registered_name: str) -> None:
    """The spec is valid, named as registered, and declares only known observables."""
    assert isinstance(source.spec, SourceSpec), f"{registered_name}: spec is not a SourceSpec"
    assert source.spec.name == registered_name, f"{registered_name}: spec.name is {source.spec.name!r}"
    assert source.spec.observables, f"{registered_name}: declares no observables"
    for name in source.spec.observables:
        assert name in OBSERVABLES, f"{registered_name}: unknown observable {name!r}"
    assert source.design_space.dim >= 1, f"{registered_name}: empty design space"


def check_cost(source: Source, seed: int = 0) -> None:
    """``estimate_cost`` is known before a run, non-negative, finite and deterministic."""
    protocol = short_protocol(source)
    for design in source.design_space.sample_sobol(4, seed):
        cost = source.estimate_cost(design, protocol)
        assert isinstance(cost, Cost)
        assert math.isfinite(cost.lab_hours) and math.isfinite(cost.cpu_seconds)
        assert cost.lab_hours + cost.cpu_seconds > 0, f"{source.name}: a run costs nothing"
        assert cost == source.estimate_cost(design, protocol), f"{source.name}: cost not deterministic"


def check_run(source: Source, seed: int = 0) -> Result:
    """A run returns a well-formed result that is identical for the same seed."""
    protocol = short_protocol(source)
    design = source.design_space.sample_sobol(2, seed)[0]
    first = run_safely(source, design, protocol, seed)
    second = run_safely(source, design, protocol, seed)
    assert first.source == source.name
    assert first.provenance.source_name == source.name
    assert first.provenance.source_version == source.spec.version
    assert first.provenance.seed == seed
    assert first.observations == second.observations, f"{source.name}: not deterministic for a seed"
    assert first.status == second.status
    declared = set(source.spec.observables)
    for observation in first.observations:
        assert observation.observable in declared, (
            f"{source.name}: produced {observation.observable!r}, not declared in its spec")
    if first.status is ResultStatus.SUCCEEDED:
        assert first.observations, f"{source.name}: succeeded without observations"
    else:
        assert first.message, f"{source.name}: a failed or stopped result needs a message"
    return first


def check_rejects_bad_design(source: Source) -> None:
    """A design outside the space raises ``InvalidInputError`` instead of running."""
    design = source.design_space.sample_sobol(1, 0)[0]
    bad = dict(design.values)
    bad["not_a_variable"] = 1.0
    try:
        source.run(design.model_copy(update={"values": bad}), short_protocol(source), seed=0)
    except InvalidInputError as exc:
        assert "not_a_variable" in str(exc)
    else:
        raise AssertionError(f"{source.name}: accepted an unknown design variable")


def check_source(source: Source, registered_name: str) -> Result:
    """Run every check; returns the result of the conforming run."""
    check_spec(source, registered_name)
    check_cost(source)
    check_rejects_bad_design(source)
    return check_run(source)
