"""The shape of a malformed-input case for ``tests/integration/test_cli_malformed.py``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One malformed input: files to write, the command line, and what the message names."""

    argv: tuple[str, ...]
    expected: str
    files: dict[str, str | bytes] = field(default_factory=dict)
