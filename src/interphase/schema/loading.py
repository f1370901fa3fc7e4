"""Parse user files (YAML, JSON) into schema models with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from interphase.schema.errors import InvalidInputError

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


def read_structured_file(path: str | Path) -> Any:
    """Read a YAML or JSON file.

    Raises:
        InvalidInputError: If the file is missing, unreadable or not valid YAML/JSON.

    """
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(str(path), "file not found")
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(str(path), f"cannot read as UTF-8 text ({exc})") from None
    try:
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0]
        kind = "JSON" if file.suffix.lower() == ".json" else "YAML"
        raise InvalidInputError(str(path), f"not valid {kind}: {problem}") from None


def load_model_file(model: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML/JSON file and validate it as ``model``; errors name the file and field."""
    data = read_structured_file(path)
    if data is None:
        raise InvalidInputError(str(path), "file is empty")
    return parse_model(model, data, context=Path(path).name)
