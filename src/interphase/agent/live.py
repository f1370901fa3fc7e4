"""The rich live view of a running campaign: the clock, channels busy, best so far, the last decision."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from interphase.agent.view import CampaignView


class LiveView:
    """A live panel on standard error, updated at every event of the campaign.

    Args:
        campaign: Campaign name, for the title.
        capacity: Resource -> slots, for the "busy" column.
    """

    def __init__(self, campaign: str, capacity: dict[str, int]) -> None:
        self.campaign = campaign
        self.capacity = dict(capacity)
        self._live = Live(Text(f"campaign {campaign}: starting"), console=Console(stderr=True),
                          refresh_per_second=4, transient=False)

    def start(self) -> None:
        """Begin drawing."""
        self._live.start()

    def stop(self) -> None:
        """Stop drawing (the last frame stays)."""
        self._live.stop()

    def update(self, view: CampaignView, last_reason: str) -> None:
        """Redraw for ``view``."""
        table = Table(title=f"campaign {self.campaign} at {view.clock_h:,.1f} simulated hours", expand=False)
        for column in ("resource", "busy", "runs done", "best so far"):
            table.add_column(column)
        for resource, slots in self.capacity.items():
            sources = [name for name, where in view.resource_of.items() if where == resource]
            done = [c for c in view.completed if c.source in sources]
            scores = [s for s in (view.check.score(c.result) for c in done if c.meets_target is not None)
                      if s is not None]
            best = f"{max(scores):.4g}" if scores else "-"
            table.add_row(resource, f"{slots - view.free.get(resource, 0)}/{slots}", str(len(done)), best)
        hits = sum(1 for c in view.completed if c.meets_target)
        footer = Text(f"{hits} run(s) met the target; last decision: {last_reason or '-'}", overflow="fold")
        failure = last_failure(view)
        lines = [table, footer] + ([Text(failure, style="yellow", overflow="ellipsis", no_wrap=True)]
                                   if failure else [])
        self._live.update(Group(*lines))


def last_failure(view: CampaignView, max_chars: int = 300) -> str | None:
    """One line on the campaign's latest failed run (its source, hour and message), or None.

    A solver's own report of a failed solve is in the result (its message and
    ``metadata["solver_output"]``); this line is all the terminal shows of it.
    """
    failed = [c for c in view.completed if c.result.status.value == "failed"]
    if not failed:
        return None
    run = failed[-1]
    message = " ".join(run.result.message.split()) or "no message"
    line = f"{len(failed)} failed run(s); last: {run.source} at {run.finished_h:,.0f} h: {message}"
    return line if len(line) <= max_chars else line[:max_chars - 3] + "..."
