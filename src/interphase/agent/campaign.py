"""A campaign's lifecycle: run, resume and extend it, each under the campaign's lease.

``run`` creates the campaign (or continues it) and stores its run configuration, so that
``resume`` can rebuild the plan after a crash or a kill; ``extend`` raises a budget with an
``extended`` decision and goes on. Each takes the campaign's lease
(:func:`interphase.store.hold_campaign`) before it writes anything, keeps it fresh from a
heartbeat thread and releases it at every end; a second process is refused
(``CampaignBusyError``) and a dead holder's lease is taken over. The event loop itself is
:class:`interphase.agent.engine.Engine`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from interphase.agent.budget import EXTENDABLE, budget_in_force
from interphase.agent.clock import RealClock, SimulatedClock
from interphase.agent.engine import Engine
from interphase.agent.local_workers import local_workers
from interphase.agent.outcome import Outcome
from interphase.agent.plan import RunPlan, resolve
from interphase.agent.runner import Runner, make_executor
from interphase.agent.strategy import make_strategy
from interphase.agent.view import CPU, CampaignView
from interphase.schema import InvalidInputError, NotFoundError, parse_model
from interphase.schema.run_config import Budget, RunConfig
from interphase.store import HeldLease, Store, hold_campaign

RUN_CONFIG_KIND = "run-config"
"""The artifact kind of a campaign's stored run configuration."""


def run_campaign(store: Store, plan: RunPlan, *, live: bool = False,
                 on_event: Callable[[CampaignView], None] | None = None, take_over: bool = False) -> Outcome:
    """Create (or continue) the campaign of ``plan`` and run it to its end.

    The schema is brought to the newest revision, then the campaign's lease is taken before
    anything of the campaign is written, and released at the end (normal, error or Ctrl-C).

    Args:
        store: A store (initialised here if it is not).
        plan: The resolved run configuration.
        live: Show a rich live view (channels busy, best so far, the last decision).
        on_event: Called with the view at every event (e.g. for tests).
        take_over: Take the campaign from another engine that looks alive.

    Returns:
        The outcome.

    Raises:
        CampaignBusyError: If another live engine holds the campaign; nothing is written.
        LeaseLostError: If another process takes the campaign over while this one runs.
    """
    store.init()
    with hold_campaign(store, plan.spec.name, take_over=take_over) as lease:
        return _run_held(store, plan, lease, live=live, on_event=on_event)


def _run_held(store: Store, plan: RunPlan, lease: HeldLease, *, live: bool = False,
              on_event: Callable[[CampaignView], None] | None = None) -> Outcome:
    store.create_campaign(plan.spec)
    _store_run_config(store, plan)
    for source in plan.sources.values():
        store.register_source(source.spec)
    with campaign_clock(store, plan) as clock:
        return Engine(store, plan, make_strategy(plan.config.strategy, plan.config.agent), live=live,
                      on_event=on_event, lease=lease, clock=clock).run()


@contextmanager
def campaign_clock(store: Store, plan: RunPlan) -> Iterator[SimulatedClock | RealClock]:
    """The clock the plan asks for, with the executor and workers it needs; all stopped on exit.

    The simulated clock runs the campaign's requests in this process, in parallel through the
    executor of ``resources.executor`` when there are several CPU workers (or Ray). The real
    clock leaves them in the queue for workers: this process's own (``clock.local_workers``),
    one per lab channel of each emulated lab source and ``cpu_workers`` for the simulations,
    and any ``interphase worker`` started elsewhere.
    """
    settings = plan.config.clock
    if settings.mode == "simulated":
        resources = plan.config.resources
        executor = None  # an inline world cannot be found again by another process: runs stay here
        if plan.world_ref is not None:
            executor = make_executor(resources.executor, resources.processes or plan.capacity.get(CPU, 1))
        try:
            yield SimulatedClock(Runner(plan.sources, executor=executor, world=plan.world_ref))
        finally:
            if executor is not None:
                executor.close()
        return
    with local_workers(store, plan):
        yield RealClock(store, time_scale=settings.time_scale, poll_s=settings.poll_seconds)


def resume_campaign(store: Store, campaign: str, *, live: bool = False, take_over: bool = False) -> Outcome:
    """Continue a campaign from the store (after a crash, a kill or a stop).

    Args:
        store: The store.
        campaign: The campaign's name.
        live: Show the rich live view.
        take_over: Take the campaign from another engine that looks alive.

    Returns:
        The outcome.

    Raises:
        NotFoundError: If there is no such campaign (or no schema); the message lists the
            campaigns the store holds and says that ``interphase run CONFIG`` starts one.
        InvalidInputError: If it was not started by ``interphase run`` (no run configuration).
        CampaignBusyError: If another live engine holds the campaign; nothing is written.
    """
    return run_campaign(store, resolve(_stored_run_config(store, campaign)), live=live, take_over=take_over)


def extend_campaign(store: Store, campaign: str, *, add_wall_hours: float | None = None,
                    add_lab_hours: float | None = None, add_cpu_hours: float | None = None,
                    live: bool = False, take_over: bool = False) -> Outcome:
    """Add hours to a campaign's budgets, log it as an ``extended`` decision, and continue the campaign.

    A campaign that ended on a budget (``"wall"`` or ``"budget"``) goes on from where it
    stopped, with the runs that were in flight; an open one (after a crash) continues under
    the larger budget. Budgets count from the campaign's start, so each ``add_*`` raises its
    total by that much. The campaign's state is checked while its lease is held, and before
    any record is written.

    Args:
        store: The store.
        campaign: The campaign's name.
        add_wall_hours: Wall-clock hours to add (> 0).
        add_lab_hours: Lab channel hours to add (> 0; the budget must have a limit).
        add_cpu_hours: CPU hours to add (> 0; the budget must have a limit).
        live: Show the rich live view.
        take_over: Take the campaign from another engine that looks alive.

    Returns:
        The outcome of the continued run.

    Raises:
        NotFoundError: If there is no such campaign.
        CampaignBusyError: If another live engine holds the campaign; nothing is written.
        InvalidInputError: If no hours are given, a number is not positive, a budget has no
            limit to raise, or the campaign verified a design (and stops on that) or ended for a
            reason more budget does not change (``"exhausted"``, ``"max_runs"``).
    """
    added = {"wall_hours": add_wall_hours, "lab_hours": add_lab_hours, "cpu_hours": add_cpu_hours}
    added = {name: hours for name, hours in added.items() if hours is not None}
    if not added:
        raise InvalidInputError("add_wall_hours", "give hours to add to at least one budget: "
                                "add_wall_hours, add_lab_hours or add_cpu_hours")
    for name, hours in added.items():
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours < math.inf:
            raise InvalidInputError(f"add_{name}", f"expected a positive number of hours; got {hours!r}")
    config = _stored_run_config(store, campaign)
    plan = resolve(config)
    with hold_campaign(store, campaign, take_over=take_over) as lease:
        _log_extension(store, campaign, config, added, lease)
        return _run_held(store, plan, lease, live=live)


def _log_extension(store: Store, campaign: str, config: RunConfig, added: dict[str, float],
                   lease: HeldLease) -> None:
    """Check that more budget can continue ``campaign``, and log the ``extended`` decision."""
    decisions = store.list_decisions(campaign)
    verified = next((d.chosen for d in decisions if d.chosen.get("kind") == "verified"), None)
    if verified is not None and config.stop.until_verified:
        raise InvalidInputError("campaign", f"campaign {campaign!r} verified a design at "
                                f"{verified.get('clock_h', 0.0):.0f} simulated hours; "
                                "there is nothing to continue")
    budget, finished = budget_in_force(decisions, config.budget)
    ended = finished.get("status") if finished else None
    if ended is not None and ended not in EXTENDABLE:
        raise InvalidInputError("campaign", f"campaign {campaign!r} ended {ended!r} (nothing left to run, or "
                                "its run limit reached), which more budget does not change; a campaign that "
                                f"ended on a budget ({', '.join(EXTENDABLE)}) or is still open can go on")
    raised = budget.model_dump()
    for name, hours in added.items():
        if raised[name] is None:
            raise InvalidInputError(f"add_{name}", f"the campaign's {name} budget has no limit; "
                                    "there is nothing to add to")
        raised[name] += float(hours)
        try:
            parse_model(Budget, {name: raised[name]})
        except InvalidInputError as exc:
            raise InvalidInputError(f"add_{name}", f"the {name} budget would become {raised[name]:g} h: "
                                    f"{exc.problem}") from None
    new_budget = Budget.model_validate(raised)
    clock_h = max((float(d.chosen.get("clock_h", 0.0)) for d in decisions), default=0.0)
    text = ", ".join(f"{hours:g} {name.replace('_', ' ')} (now {raised[name]:g})"
                     for name, hours in added.items())
    after = f"it had ended on its budget ({ended})" if ended else "it was still open"
    store.log_decision(campaign, {"kind": "extended", "clock_h": clock_h, "budget": new_budget.model_dump(),
                                  "added": added, "ended": ended}, [],
                       f"budget extended by {text}; {after}, and goes on", lease=lease.lease)


def _stored_run_config(store: Store, campaign: str) -> RunConfig:
    """The run configuration ``interphase run`` stored for ``campaign``.

    Nothing is written, not even an empty SQLite file.

    Raises:
        NotFoundError: If there is no such campaign, or no schema to hold one; the message
            says that ``interphase run CONFIG`` starts it (``db init`` would not help).
        InvalidInputError: If it was not started by ``interphase run``.
    """
    starts = "'interphase run CONFIG' starts a campaign"
    if not store.exists() or store.revision() is None:
        place = "does not exist" if not store.exists() else "has no interphase schema yet"
        raise NotFoundError(f"no campaign {campaign!r} to resume: database {store.display_url()} {place}; "
                            f"{starts} (and creates what the store needs)")
    store.require_initialised()
    try:
        store.get_campaign(campaign)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc}; {starts}") from None
    configs = [a for a in store.list_artifacts(RUN_CONFIG_KIND) if a.metadata.get("campaign") == campaign]
    if not configs:
        raise InvalidInputError("campaign", f"campaign {campaign!r} has no run configuration; "
                                "only campaigns started with 'interphase run' can be resumed")
    return RunConfig.model_validate_json(store.get_artifact(configs[-1].sha256))


def _store_run_config(store: Store, plan: RunPlan) -> None:
    config = plan.config
    if plan.world_ref is not None and config.world != plan.world_ref:
        config = config.model_copy(update={"world": plan.world_ref})  # absolute, so resume finds it
    store.put_artifact(config.model_dump_json().encode(), RUN_CONFIG_KIND, media_type="application/json",
                       metadata={"campaign": plan.spec.name})

