"""What the short campaign tests share: sei-life cut to 20 cycles, and a strategy that simulates and tests.

The world keeps sei-life's sources, truth and space; a 20-cycle protocol makes each emulated lab
test a second or so of CPU, and a target a 20-cycle cell can meet.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from interphase.agent.options import Option, Proposal, ScoredOption, StopOrder
from interphase.agent.strategy import Strategy, register_strategy
from interphase.agent.view import CPU, CampaignView
from interphase.schema import canonical_hash
from interphase.sources.world import load_world

SHORT_CYCLES = 20
STOP_AT_CYCLE = 10


def write_short_world(folder: Path) -> Path:
    """Write sei-life with a 20-cycle horizon and a target a 20-cycle cell can meet into ``folder``."""
    world = load_world("sei-life").model_dump(mode="json")
    world["name"] = "sei-short"
    world["protocol"]["n_cycles"] = SHORT_CYCLES
    world["target"] = {"bounds": [{"observable": "Capacity retention", "lower": 0.5}],
                       "objectives": [{"observable": "Capacity retention", "direction": "maximize"}]}
    path = folder / "sei-short.yaml"
    path.write_text(yaml.safe_dump(world))
    return path


class SimulateThenTest(Strategy):
    """PyBaMM SPM simulations on the CPU slots, Sobol designs on the lab channels.

    Its review stops, at cycle 10 or after, the running tests of designs whose content hash ends
    in an even digit: about half of them, the same ones in every store.
    """

    name = "short-campaign-test"
    review_every_cycles = 5

    def propose(self, view: CampaignView, resource: str, slots: int) -> Proposal | None:
        if resource == CPU:
            source = "pybamm-spm"
        elif resource == view.resource_of[view.highest_fidelity]:
            source = view.highest_fidelity
        else:
            return None
        start = len(view.runs_of(source))
        designs = view.design_space.sample_sobol(start + slots, seed=view.seed + len(source))[start:]
        chosen = tuple(ScoredOption(Option(source, d, view.protocol), value=0.5, cost=1.0, utility=0.5,
                                    why="test") for d in designs)
        return Proposal(chosen=chosen, reason=f"short campaign test: {len(chosen)} on {source}")

    def review(self, view: CampaignView) -> list[StopOrder]:
        return [StopOrder(r.request_id, max(STOP_AT_CYCLE, r.cycles_done), "short campaign test: enough")
                for r in view.running
                if r.cycles_done >= STOP_AT_CYCLE and canonical_hash(r.design.values)[-1] in "02468ace"]


def register(strategy: type[Strategy]) -> None:
    """Register a test strategy once, after the built-ins."""
    from interphase.agent import strategy as strategies

    strategies.strategy_names()
    if strategy.name not in strategies._REGISTRY:
        register_strategy(strategy.name, strategy)
