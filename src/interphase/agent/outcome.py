"""How a campaign run ended: its status, clock, spending and verified design."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """How a campaign run ended.

    Attributes:
        campaign: Campaign name.
        status: ``"verified"``, ``"budget"``, ``"max_runs"``, ``"exhausted"`` (nothing left to
            run) or ``"wall"`` (real-time budget).
        clock_h: Simulated hours at the end.
        discovery_h: Simulated hour the target was verified, or None.
        verified_design: The verified design's values, or None.
        runs: Runs with a result.
        spent: ``{"lab_hours", "cpu_hours", "wall_seconds"}``.
        by_source: Source -> ``{"runs", "lab_hours", "cpu_hours"}``.
    """

    campaign: str
    status: str
    clock_h: float
    discovery_h: float | None
    verified_design: dict[str, Any] | None
    runs: int
    spent: dict[str, float]
    by_source: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """A few lines for people."""
        found = (f"verified after {self.discovery_h:.0f} simulated hours"
                 if self.discovery_h is not None else f"ended: {self.status}")
        spent = self.spent
        lines = [f"campaign {self.campaign}: {found}; {self.runs} runs, {spent['lab_hours']:.0f} lab hours, "
                 f"{spent['cpu_hours']:.2f} CPU hours, {spent['wall_seconds']:.0f} s of wall time"]
        if self.verified_design:
            values = ", ".join(f"{k} = {v:.4g}" for k, v in self.verified_design.items())
            lines.append(f"verified design: {values}")
        return lines
