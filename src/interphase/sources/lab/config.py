"""Public settings of the emulated lab's sources, as a world's ``sources`` section declares them.

These are what a lab would tell its users: channels, how long formation and a
post-mortem take, how precise a post-mortem is. The hidden truth is in :mod:`.truth`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interphase.schema.limits import Description


class LabCellConfig(BaseModel):
    """The ``lab-cell`` source: cells built to a design and cycled on a cycler.

    Attributes:
        kind: Always ``"lab-cell"``.
        version: Version of these settings; part of the source's version.
        fidelity: Rank among the world's sources.
        channels: Cycler channels; None: the world's ``resources.lab_channels``.
        formation_hours: Set-up and formation before cycling, in hours.
        cv_hold_hours: Expected length of a constant-voltage hold without a ``for``
            duration, for the cost estimate (the run itself uses the measured time).
        description: One line for people (at most 4,000 characters).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["lab-cell"] = "lab-cell"
    version: str = Field(default="1", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.\-]+$")
    fidelity: int = Field(default=100, ge=0, le=100)
    channels: int | None = Field(default=None, ge=1, le=10_000)
    formation_hours: float = Field(default=24.0, ge=0.0, le=10_000.0, allow_inf_nan=False)
    cv_hold_hours: float = Field(default=0.5, ge=0.0, le=1_000.0, allow_inf_nan=False)
    description: Description = ""


class PostMortemConfig(BaseModel):
    """The ``post-mortem`` source: a cycled cell opened and its SEI measured.

    Attributes:
        kind: Always ``"post-mortem"``.
        version: Version of these settings.
        fidelity: Rank among the world's sources.
        channels: Cells that can be examined at once.
        hours: Lab hours one post-mortem takes.
        relative_error: Standard deviation of the log of the measured SEI thickness
            (0.2 is about ±20 %).
        description: One line for people (at most 4,000 characters).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["post-mortem"] = "post-mortem"
    version: str = Field(default="1", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.\-]+$")
    fidelity: int = Field(default=100, ge=0, le=100)
    channels: int = Field(default=2, ge=1, le=10_000)
    hours: float = Field(default=48.0, gt=0.0, le=10_000.0, allow_inf_nan=False)
    relative_error: float = Field(default=0.2, ge=0.0, le=2.0, allow_inf_nan=False)
    description: Description = ""
