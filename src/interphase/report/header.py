"""The report's header: campaign, world, strategy, and how it stands (verified, when, what it spent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interphase.report.content import ReportContent
from interphase.schema.run_config import Budget


@dataclass(frozen=True)
class Header:
    """What the top of the page says.

    Attributes:
        headline: One sentence: verified (and when), finished without, running, or no results yet.
        verified: Whether a design was verified.
        facts: ``(label, value)`` pairs shown under the headline.
    """

    headline: str
    verified: bool
    facts: list[tuple[str, str]]


def _hours(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}g} h" if isinstance(value, int | float) else "-"


def _world(world: str | None) -> str:
    """A built-in world's name, a world file's name, or "inline world"."""
    if world is None:
        return "inline world"
    return Path(world).name if "/" in world or world.endswith((".yaml", ".yml")) else world


def _spent(content: ReportContent) -> dict[str, float]:
    """Spent as the ``finished`` decision says; before it, the sum of the stored results' costs."""
    finished = content.data.decisions_of("finished")
    stored = finished[-1].chosen.get("spent") if finished else None
    if isinstance(stored, dict):
        return {k: float(v) for k, v in stored.items() if isinstance(v, int | float)}
    return {"lab_hours": sum(c.lab_hours for c in content.costs),
            "cpu_hours": sum(c.cpu_hours for c in content.costs)}


def build_header(content: ReportContent) -> Header:
    """The header of a campaign's report."""
    data = content.data
    config = data.run_config
    verified = data.decisions_of("verified")
    finished = data.decisions_of("finished")
    ends = data.decisions_of("finished", "extended")  # an extension reopens a finished campaign
    if verified:
        chosen = verified[0].chosen
        value = chosen.get("objective")
        shown = f" ({data.objective.observable if data.objective else 'objective'} {value:.4g})" \
            if isinstance(value, int | float) else ""
        clock = chosen.get("clock_h")
        when = f" after {clock:.4g} simulated hours" if isinstance(clock, int | float) else ""
        headline = f"Verified design {str(chosen.get('design_id', '?'))[:8]}{shown}{when}"
    elif ends and ends[-1].chosen.get("kind") == "finished":
        headline = f"Finished without a verified design (status: {finished[-1].chosen.get('status', '?')})"
    elif data.runs:
        headline = f"Running: {len(data.runs)} results so far, no design verified yet"
    else:
        headline = "No results yet: the campaign has not delivered any run"
    spent = _spent(content)
    budget = config.budget if config else None
    extended = data.decisions_of("extended")
    if extended and isinstance(extended[-1].chosen.get("budget"), dict):  # raised after the start
        budget = Budget.model_validate(extended[-1].chosen["budget"])
    lab = _hours(spent.get("lab_hours"))
    cpu = _hours(spent.get("cpu_hours"), 3)
    if budget is not None and budget.lab_hours is not None:
        lab += f" of {budget.lab_hours:g} h"
    if budget is not None and budget.cpu_hours is not None:
        cpu += f" of {budget.cpu_hours:g} h"
    discovery = finished[-1].chosen.get("discovery_h") if finished else None
    if discovery is None and verified:
        discovery = verified[0].chosen.get("clock_h")
    facts = [
        ("world", _world(config.world) if config else "unknown"),
        ("strategy", config.strategy if config else "unknown"),
        ("status", str(finished[-1].chosen.get("status", "?")) if finished else "not finished"),
        ("discovery time", f"{_hours(discovery)} simulated" if discovery is not None else "not verified"),
        ("lab hours spent", lab),
        ("CPU hours spent", cpu),
        ("results", str(len(data.runs))),
        ("decisions", str(len(data.decisions))),
        ("objective", content.objective_label),
        ("verified on", data.highest_fidelity or "-"),
    ]
    if config is not None:
        facts.append(("replicates to verify", str(config.stop.replicates)))
    return Header(headline=headline, verified=bool(verified), facts=facts)
