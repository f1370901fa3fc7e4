"""Provenance attached to every result: who made it, with what, from which inputs."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from interphase.schema.design_space import canonical_hash

TRACKED_PACKAGES = ("interphase", "numpy", "scipy", "pandas", "pydantic", "sqlalchemy",
                    "pybamm", "torch", "botorch", "battery-data-toolkit", "galvani")


class Provenance(BaseModel):
    """Where a result came from.

    Attributes:
        source_name: Source registry name.
        source_version: Version of the source.
        seed: Seed the run used, if any.
        params_hash: SHA-256 of the canonical JSON of the run's inputs.
        package_versions: Installed versions of the packages that shaped the result.
        git_sha: Commit of the interphase checkout, when running from one.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_name: str
    source_version: str
    seed: int | None = None
    params_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    package_versions: dict[str, str]
    git_sha: str | None = None

    @classmethod
    def capture(cls, source_name: str, source_version: str, params: Any,
                seed: int | None = None) -> Provenance:
        """Record provenance for a run happening now in this environment.

        Args:
            source_name: Source registry name.
            source_version: Version of the source.
            params: The run's inputs (design, protocol, options); JSON-serialisable.
            seed: The seed, if the run used one.

        """
        return cls(
            source_name=source_name,
            source_version=source_version,
            seed=seed,
            params_hash=canonical_hash(params),
            package_versions=installed_versions(),
            git_sha=git_sha(),
        )


@lru_cache(maxsize=1)
def installed_versions() -> dict[str, str]:
    """Versions of :data:`TRACKED_PACKAGES` that are installed."""
    found: dict[str, str] = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit of the checkout this package runs from, or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = completed.stdout.strip()
    return sha if completed.returncode == 0 and len(sha) == 40 else None
