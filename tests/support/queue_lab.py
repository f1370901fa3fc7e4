"""Requests for the emulated lab (``lab-cell`` of the ``sei-life`` world), queued in a store for workers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interphase.schema import CampaignSpec, Design, Protocol, Request
from interphase.sources import Source, resolve_source
from interphase.sources.world import load_world
from interphase.store import Store

WORLD = "sei-life"
LAB = "lab-cell"


@dataclass(frozen=True)
class LabRequests:
    """What :func:`queue_lab_requests` stored.

    Attributes:
        campaign: The campaign's name.
        source: The lab source, as a worker builds it.
        protocol: The requests' protocol (a few cycles).
        request_ids: The queued requests, in order; request ``i`` has seed ``i``.
        designs: Their designs, SI.
    """

    campaign: str
    source: Source
    protocol: Protocol
    request_ids: tuple[str, ...]
    designs: tuple[Design, ...]

    def own_result(self, i: int, protocol: Protocol | None = None):  # noqa: ANN201 - a Result
        """The source's own result for request ``i`` (its design and seed)."""
        return self.source.run(self.designs[i], protocol or self.protocol, seed=i)


def queue_lab_requests(store: Store, n: int, *, n_cycles: int = 6,
                       campaign: str = "lab-queue") -> LabRequests:
    """Store a campaign over the sei-life space, register ``lab-cell`` and queue ``n`` requests for it.

    Args:
        store: An initialised store.
        n: Requests to queue.
        n_cycles: Cycles of each request's protocol.
        campaign: Campaign name.
    """
    world = load_world(WORLD)
    source = resolve_source(LAB, WORLD)
    protocol = world.protocol.model_copy(update={"n_cycles": n_cycles})
    store.create_campaign(CampaignSpec(name=campaign, description="worker tests",
                                       design_space=world.design_space, protocol=protocol,
                                       target=world.target, sources=(LAB,), seed=0))
    store.register_source(source.spec)
    cube = np.random.default_rng(7).random((n, world.design_space.dim))
    stored = store.add_designs(campaign, world.design_space.from_unit_cube(cube))
    ids = tuple(store.create_request(Request(campaign=campaign, design_id=d.id, source=LAB, protocol=protocol,
                                             seed=i, idempotency_key=f"{campaign}-{i}")).id
                for i, d in enumerate(stored))
    return LabRequests(campaign=campaign, source=source, protocol=protocol, request_ids=ids,
                       designs=tuple(d.design for d in stored))
