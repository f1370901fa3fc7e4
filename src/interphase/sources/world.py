"""Worlds: a design space, its sources and settings, a default protocol, target and truth.

The hidden truth is for the emulated lab only. Built-in worlds ship as YAML in
``interphase/worlds``; any YAML path with the same shape works without code changes.
"""

from __future__ import annotations

import re
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from interphase.schema import DesignSpace, InvalidInputError, Protocol, TargetSpec, load_model_file
from interphase.schema.limits import Description
from interphase.schema.run_config import SOURCE_NAME_PATTERN


class Resources(BaseModel):
    """What a campaign in this world may use at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab_channels: int = Field(default=8, ge=1, le=10_000)
    cpu_workers: int = Field(default=2, ge=1, le=10_000)


class World(BaseModel):
    """A benchmark or demo world.

    Attributes:
        name: World name, e.g. ``"sei-life"``.
        description: What the world stands for (at most
            :data:`~interphase.schema.limits.MAX_DESCRIPTION_CHARS` characters).
        design_space: The variables a campaign explores.
        protocol: The default protocol; ``n_cycles`` is the world's horizon.
        sources: Source name → that source's settings in this world (free-form, read by
            the source's own config model).
        target: The default target.
        resources: Channels and workers.
        truth: The hidden truth of the emulated lab. Only lab sources read it; it is never
            written to the store or shown by the CLI or API.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    description: Description = ""
    design_space: DesignSpace
    protocol: Protocol
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    target: TargetSpec | None = None
    resources: Resources = Resources()
    truth: dict[str, Any] = Field(default_factory=dict, repr=False)
    _folder: Path | None = PrivateAttr(default=None)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in sources:
            if not re.fullmatch(SOURCE_NAME_PATTERN, name):
                raise InvalidInputError(name, f"{name!r} is not a source name: use lower-case letters, "
                                        "digits, '-', '_', ':' and '.', starting with a letter or digit")
        return sources

    @property
    def folder(self) -> Path | None:
        """The world file's folder: relative paths in source settings (a table) start there.

        None for a built-in or inline world whose folder was not given: relative paths
        then start at the working directory.
        """
        return self._folder

    def located(self, folder: Path | None) -> World:
        """The same world, its relative paths starting from ``folder`` (made absolute)."""
        copy = self.model_copy()
        copy._folder = None if folder is None else Path(folder).resolve()
        return copy

    def public_view(self) -> dict[str, Any]:
        """Everything but the hidden truth, for the CLI, the API and the store."""
        return self.model_dump(mode="json", exclude={"truth"})


def builtin_world_names() -> list[str]:
    """Names of the worlds that ship with the package."""
    folder = files("interphase").joinpath("worlds")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_world(name_or_path: str | Path) -> World:
    """Load a built-in world by name, or any world YAML by path.

    Args:
        name_or_path: ``"sei-life"`` or a path such as ``"my-world.yaml"``.

    Returns:
        The validated world; a file's world is :meth:`World.located` in the file's folder.

    Raises:
        InvalidInputError: If there is no such world or the file is malformed, larger than
            :data:`~interphase.schema.limits.MAX_STRUCTURED_FILE_BYTES` or a folder; the
            message names the field.
    """
    text = str(name_or_path)
    if text in builtin_world_names():
        resource = files("interphase").joinpath("worlds").joinpath(f"{text}.yaml")
        with as_file(resource) as path:
            return load_model_file(World, path)
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        return load_model_file(World, path).located(path.resolve().parent)
    raise InvalidInputError(
        "world", f"unknown world {text!r}; built in: {', '.join(builtin_world_names()) or 'none'}, "
        "or give a path to a world YAML file"
    )
