"""The emulated lab: cells with a hidden truth, cell-to-cell spread, noise, failures and channels.

* :mod:`.truth`: the hidden truth a world's ``truth`` section declares (the model that
  stands for the real cell, hidden parameter offsets, a mechanism the simulators lack,
  spread, noise, failures). Only this package reads it.
* :mod:`.cell`: one cell under test on the truth model (:class:`EmulatedLab`).
* :mod:`.sources`: ``lab-cell`` (capacity, retention and resistance per cycle, as a
  cycler sees them) and ``post-mortem`` (SEI thickness of the cell, ±20 %, 48 h).

Importing this package does not import PyBaMM; the first run does.
"""

from __future__ import annotations

from interphase.sources.lab.cell import ASSEMBLY_DEFECT, CELL_FAILURE, SHORT_CIRCUIT, CellTest, EmulatedLab
from interphase.sources.lab.sources import LabCellSource, PostMortemSource, emulated_lab
from interphase.sources.lab.truth import LabTruth
from interphase.sources.world import load_world

WORLD_NAME = "sei-life"
LAB_CELL_NAME = "lab-cell"
POST_MORTEM_NAME = "post-mortem"


def lab_cell_source() -> LabCellSource:
    """``lab-cell`` of the built-in ``sei-life`` world."""
    return LabCellSource(load_world(WORLD_NAME), LAB_CELL_NAME)


def post_mortem_source() -> PostMortemSource:
    """``post-mortem`` of the built-in ``sei-life`` world."""
    return PostMortemSource(load_world(WORLD_NAME), POST_MORTEM_NAME)


__all__ = [
    "ASSEMBLY_DEFECT", "CELL_FAILURE", "LAB_CELL_NAME", "POST_MORTEM_NAME", "SHORT_CIRCUIT", "CellTest",
    "EmulatedLab", "LabCellSource", "LabTruth", "PostMortemSource", "emulated_lab", "lab_cell_source",
    "post_mortem_source",
]
