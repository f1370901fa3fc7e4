"""Campaign leases on every back end: compare-and-set, dead holders, heartbeats, fences, release.

Each test runs on SQLite and on PostgreSQL (the ``store`` fixture). Another process is played
by a second holder token; a dead one by a real process that has exited; another host by
rewriting the lease row's host, as a holder elsewhere would have written it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from interphase.store import (
    CampaignBusyError,
    LeaseLostError,
    Store,
    hold_campaign,
)
from interphase.store.leases import acquire_lease, current_lease, release_lease, renew_lease
from interphase.store.tables import CampaignLeaseRow, StatusLogRow
from support import factories

pytestmark = pytest.mark.timeout(120)


def rewrite(store: Store, campaign: str, **values: object) -> None:
    """Change the lease row as another holder would have written it."""
    with store.engine.begin() as connection:
        connection.execute(update(CampaignLeaseRow).where(CampaignLeaseRow.campaign == campaign)
                           .values(**values))


def take_overs(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(StatusLogRow.detail).where(
            StatusLogRow.entity == "lease", StatusLogRow.status == "taken-over")).scalars())


def dead_pid() -> int:
    """The PID of a process that has run and been reaped."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True, check=True)
    return int(process.stdout)


def test_a_free_lease_is_taken_and_a_live_holder_refuses_another(store: Store) -> None:
    first = acquire_lease(store, "camp")
    assert (first.campaign, first.pid, first.host) == ("camp", os.getpid(), socket.gethostname())
    assert current_lease(store, "camp") == first
    counts = store.counts()
    with pytest.raises(CampaignBusyError) as busy:
        acquire_lease(store, "camp")
    message = str(busy.value)
    assert message.startswith(f"campaign 'camp' is running in process {os.getpid()} on host "
                              f"{socket.gethostname()} since {first.acquired_at:%Y-%m-%d %H:%M:%S} UTC")
    assert message.endswith("wait or use --take-over after it is dead")
    assert current_lease(store, "camp") == first and store.counts() == counts
    assert acquire_lease(store, "other").holder != first.holder  # one lease per campaign


def test_take_over_replaces_a_live_holder_and_fences_its_writes(store: Store) -> None:
    seeded = factories.seed_campaign(store)
    old = acquire_lease(store, seeded.campaign)
    new = acquire_lease(store, seeded.campaign, take_over=True)
    assert current_lease(store, seeded.campaign) == new and new.holder != old.holder
    assert not renew_lease(store, old)
    assert not release_lease(store, old) and current_lease(store, seeded.campaign) == new
    assert take_overs(store) == [f"from process {os.getpid()} on host {socket.gethostname()} (holder since "
                                 f"{old.acquired_at:%Y-%m-%d %H:%M:%S} UTC): forced with --take-over"]
    counts = store.counts()
    taken = f"campaign 'demo' was taken over by process {os.getpid()} on host "
    with pytest.raises(LeaseLostError, match=taken):
        store.log_decision(seeded.campaign, {"kind": "x"}, [], "from the old holder", lease=old)
    request = factories.request(seeded.campaign, seeded.design_ids[0])
    with pytest.raises(LeaseLostError):
        store.launch(seeded.campaign, [request], {"kind": "launch"}, [], "from the old holder", lease=old)
    assert store.counts() == counts  # the fenced writes wrote nothing
    store.launch(seeded.campaign, [request], {"kind": "launch"}, [], "from the new holder", lease=new)
    assert store.counts()["decisions"] == counts["decisions"] + 1
    assert renew_lease(store, new) and release_lease(store, new)
    assert current_lease(store, seeded.campaign) is None


def test_a_holder_dead_on_this_host_is_taken_over_without_force(store: Store) -> None:
    acquire_lease(store, "camp")
    gone = dead_pid()
    rewrite(store, "camp", pid=gone)
    taken = acquire_lease(store, "camp")
    assert taken.pid == os.getpid()
    assert take_overs(store)[-1].endswith(f"process {gone} is no longer running on this host")


def test_a_holder_on_another_host_is_live_until_its_heartbeat_is_older_than_the_ttl(store: Store) -> None:
    held = acquire_lease(store, "camp")
    rewrite(store, "camp", host="elsewhere", pid=1)
    with pytest.raises(CampaignBusyError, match="in process 1 on host elsewhere"):
        acquire_lease(store, "camp", ttl_s=60.0)
    rewrite(store, "camp", heartbeat_at=held.heartbeat_at - timedelta(seconds=90))
    taken = acquire_lease(store, "camp", ttl_s=60.0)
    assert taken.host == socket.gethostname()
    assert "its last heartbeat was" in take_overs(store)[-1]


def test_the_heartbeat_keeps_the_lease_fresh_while_the_holder_is_busy(store: Store) -> None:
    ttl_s = 1.0
    with hold_campaign(store, "camp", ttl_s=ttl_s, interval_s=0.1) as held:
        rewrite(store, "camp", host="elsewhere")  # judged by its heartbeat alone
        began = time.monotonic()
        while time.monotonic() - began < 3 * ttl_s:  # a long decision, holding the GIL in bursts
            sum(i * i for i in range(20_000))
        with pytest.raises(CampaignBusyError):
            acquire_lease(store, "camp", ttl_s=ttl_s)
        assert current_lease(store, "camp").heartbeat_at > held.lease.heartbeat_at
        held.ensure_held()
    assert current_lease(store, "camp") is None


@pytest.mark.parametrize("error", [None, RuntimeError, KeyboardInterrupt])
def test_the_lease_is_released_at_a_normal_end_on_an_error_and_on_ctrl_c(
        store: Store, error: type[BaseException] | None) -> None:
    def hold() -> None:
        with hold_campaign(store, "camp") as held:
            assert current_lease(store, "camp") == held.lease
            if error is not None:
                raise error("stopped")

    if error is None:
        hold()
    else:
        with pytest.raises(error):
            hold()
    assert current_lease(store, "camp") is None


def test_a_holder_whose_lease_was_taken_stops_and_leaves_the_new_lease_alone(store: Store) -> None:
    with hold_campaign(store, "camp", interval_s=0.05) as held:
        successor = acquire_lease(store, "camp", take_over=True)
        time.sleep(0.3)
        with pytest.raises(LeaseLostError, match="campaign 'camp' was taken over by process"):
            held.ensure_held()
    assert current_lease(store, "camp") == successor
