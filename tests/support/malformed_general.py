"""Malformed-input cases of general CLI inputs, merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

from support.malformed import Case

CASES: dict[str, Case] = {}
