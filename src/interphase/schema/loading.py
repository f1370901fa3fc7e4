"""Parse user files (YAML, JSON) into schema models with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from interphase.schema.errors import InvalidInputError
from interphase.schema.limits import MAX_NESTING_DEPTH, MAX_STRUCTURED_FILE_BYTES, structure_problem

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_model(model: type[ModelT], data: Any, context: str = "") -> ModelT:
    """Validate ``data`` against a pydantic model.

    Args:
        model: The model class.
        data: Parsed YAML/JSON data.
        context: Prefix for the field path, e.g. the file name.

    Returns:
        The validated model.

    Raises:
        InvalidInputError: Naming the first offending field and what is allowed.

    """
    try:
        return model.model_validate(data)
    except InvalidInputError as exc:
        raise InvalidInputError(_join(context, exc.field), exc.problem) from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        parts = _drop_union_tags(first["loc"])
        location = ".".join(str(part) for part in parts)
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, InvalidInputError):
            cause_parts = cause.field.split(".") if cause.field else []
            if parts and cause_parts and cause_parts[0] == str(parts[-1]):
                cause_parts = cause_parts[1:]
            field = _join(location, ".".join(cause_parts))
            raise InvalidInputError(_join(context, field), cause.problem) from None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(_fields_at(model, first["loc"][:-1]))
            message = f"unknown field; allowed fields: {allowed}" if allowed else "unknown field"
        elif first["type"] == "missing":
            message = "missing required field"
        raise InvalidInputError(_join(context, location), message) from None


_UNION_TAGS = {"continuous", "integer", "categorical"}


def _drop_union_tags(loc: tuple[Any, ...]) -> list[Any]:
    """Drop the tag pydantic inserts after a list index for a discriminated union member."""
    kept: list[Any] = []
    for part in loc:
        if kept and isinstance(kept[-1], int) and part in _UNION_TAGS:
            continue
        kept.append(part)
    return kept


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model inside an annotation (through unions, tuples, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) + tuple(getattr(annotation, "__metadata__", ())):
        found.extend(_models_in(arg))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and not getattr(annotation, "__args__", ()):
        found.extend(_models_in(origin))
    return found


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model at ``loc``, best effort, for error messages.

    Follows list indices and picks the member of a discriminated union whose ``kind``
    matches the tag pydantic puts in the location.
    """
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [c for c in candidates if getattr(c.model_fields.get("kind"), "default", None) == part]
        if tagged:
            candidates = tagged
            continue
        field = next((c.model_fields[str(part)] for c in candidates if str(part) in c.model_fields), None)
        if field is None:
            return []
        candidates = _models_in(field.annotation)
        if not candidates:
            return []
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _join(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix and field else prefix or field


class _DuplicateKeyError(Exception):
    """A mapping in a YAML or JSON file names one key twice."""

    def __init__(self, key: Any, where: str) -> None:
        self.key = key
        self.where = where
        super().__init__(f"duplicate key {key!r}{where}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (PyYAML keeps the last one).

    Keys merged in with ``<<: *alias`` may be overridden, as YAML intends; only keys
    written twice in one mapping are refused.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports an unhashable key
                line = key_node.start_mark.line + 1
                if key in first_line:
                    raise _DuplicateKeyError(key, f" at line {line} (first at line {first_line[key]})")
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _unique_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _DuplicateKeyError(key, "")
        mapping[key] = value
    return mapping


def parse_structured_text(text: str, kind: str = "YAML") -> Any:
    """Parse YAML (or JSON, a subset of it) the way interphase reads every user file.

    Args:
        text: The document.
        kind: ``"YAML"`` or ``"JSON"``; JSON is parsed strictly.

    Returns:
        The parsed data.

    Raises:
        InvalidInputError: With an empty field, for text that is not valid ``kind``, repeats
            a key in one mapping, or nests or expands past :mod:`interphase.schema.limits`;
            callers re-raise it under the name of the input.
    """
    try:
        if kind == "JSON":
            data = json.loads(text, object_pairs_hook=_unique_json_object)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKeyError as exc:
        raise InvalidInputError("", f"{exc}; each key may appear once in a mapping") from None
    except RecursionError:
        raise InvalidInputError("", f"nests mappings and lists deeper than {MAX_NESTING_DEPTH} "
                                    "levels") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0]
        raise InvalidInputError("", f"not valid {kind}: {problem}") from None
    problem = structure_problem(data)
    if problem is not None:
        raise InvalidInputError("", problem)
    return data


def read_structured_file(path: str | Path) -> Any:
    """Read a YAML or JSON file (JSON by its ``.json`` suffix), within the size limits.

    Raises:
        InvalidInputError: Naming the file, if it is missing, a folder, unreadable, larger
            than :data:`~interphase.schema.limits.MAX_STRUCTURED_FILE_BYTES`, not valid
            YAML/JSON, repeats a key, or nests too deep.

    """
    file = Path(path)
    if file.is_dir():
        raise InvalidInputError(str(path), "is a folder; give a YAML or JSON file")
    if not file.is_file():
        problem = "file not found" if not file.exists() else "is not a regular file"
        raise InvalidInputError(str(path), problem)
    try:
        size = file.stat().st_size
        if size > MAX_STRUCTURED_FILE_BYTES:
            raise InvalidInputError(str(path), f"is {size / 2**20:.1f} MiB; files of at most "
                                               f"{MAX_STRUCTURED_FILE_BYTES // 2**20} MiB are read")
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(str(path), f"cannot read as UTF-8 text ({exc})") from None
    kind = "JSON" if file.suffix.lower() == ".json" else "YAML"
    try:
        return parse_structured_text(text, kind)
    except InvalidInputError as exc:
        raise InvalidInputError(str(path), exc.problem) from None


def load_model_file(model: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML/JSON file and validate it as ``model``; errors name the file and field."""
    data = read_structured_file(path)
    if data is None:
        raise InvalidInputError(str(path), "file is empty")
    return parse_model(model, data, context=Path(path).name)
