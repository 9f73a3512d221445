"""Request validation: pydantic's errors become 422 details with ``code``, ``field``, ``pointer``.

Request body models derive from ``RequestModel``, so a ``null`` in an optional field is the field
left out. Codes (documented in docs/api-conventions.md):

- ``is_required``: a required field is missing, ``null`` or blank;
- ``too_long`` / ``too_short``: string length limits;
- ``invalid_value``: not one of the allowed values, or not a valid timestamp / number;
- ``invalid_type``: a JSON value of the wrong type;
- ``not_found``, ``limit_exceeded``, ``not_allowed``, ``invalid_cursor``,
  ``idempotency_key_reused``: raised by services for the rules pydantic cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from clarion.errors import ClarionError, ErrorDetail, InvalidRequest, ValidationFailed
from clarion.text import MULTI_LINE, SINGLE_LINE
from clarion.timeutil import EARLIEST, LATEST, OutOfRange, parse_ts, to_utc

_CODES = {
    "missing": "is_required",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "enum": "invalid_value",
    "literal_error": "invalid_value",
    "greater_than_equal": "invalid_value",
    "less_than_equal": "invalid_value",
    "greater_than": "invalid_value",
    "less_than": "invalid_value",
    "int_parsing": "invalid_value",
    "int_from_float": "invalid_value",
    "datetime_parsing": "invalid_value",
    "datetime_from_date_parsing": "invalid_value",
    "datetime_type": "invalid_value",
    "bool_parsing": "invalid_type",
}

_OUR_CODES = {"is_required", "invalid_value", "too_long", "not_allowed", "invalid_type"}


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _clean_loc(loc: Sequence[int | str]) -> list[int | str]:
    """Drop the location prefix and pydantic's union-branch tags (``list[...]``, ``none``)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return [p for p in parts if isinstance(p, int) or (_NAME.match(p) and p != "none")]


def _field_and_pointer(loc: Sequence[int | str]) -> tuple[str, str]:
    parts = _clean_loc(loc)
    field = ""
    for part in parts:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += ("." if field else "") + str(part)
    pointer = "/" + "/".join(str(p) for p in parts)
    return field or "body", pointer if parts else "/"


def details_from_pydantic(errors: Sequence[Any]) -> ClarionError:
    """Turn ``RequestValidationError.errors()`` into our error (400 for unreadable bodies)."""
    details: list[ErrorDetail] = []
    seen: set[tuple[str, str]] = set()
    for err in errors:
        kind = str(err.get("type", ""))
        loc = tuple(err.get("loc", ()))
        if "none" in loc[1:] and kind == "none_required":
            continue  # the "or null" branch of an optional field: the other branch says why
        if kind == "json_invalid":
            return InvalidRequest("The request body is not valid JSON", code="invalid_json")
        if loc in (("body",), ()):
            if kind == "missing":
                return InvalidRequest("This endpoint needs a JSON object body", code="invalid_json")
            return InvalidRequest("The request body must be a JSON object", code="invalid_json")
        field, pointer = _field_and_pointer(loc)
        if kind != "missing" and "input" in err and err["input"] is None:
            code = "is_required"  # a null where a value is needed counts as left out
        elif kind == "string_too_short" and not str(err.get("input", "x")).strip():
            code = "is_required"  # so is a blank string (``?status_page_id=``)
        elif kind in _OUR_CODES:
            code = kind
        else:
            code = _CODES.get(kind, "invalid_type" if kind.endswith("_type") else "invalid_value")
        if (field, code) in seen:
            continue
        seen.add((field, code))
        details.append(ErrorDetail(code, _message(code, field, err), field, pointer))
    return ValidationFailed(*details)


def _message(code: str, field: str, err: Any) -> str:
    ctx = err.get("ctx") or {}
    if code == "is_required":
        return f"{field} is required"
    if code == "too_long":
        return f"{field} must be at most {ctx.get('max_length', '?')} characters long"
    if code == "too_short":
        return f"{field} must be at least {ctx.get('min_length', '?')} characters long"
    if code == "invalid_value" and "expected" in ctx:
        return f"{field} must be one of {ctx['expected']}"
    return f"{field}: {err.get('msg', 'is invalid')}"


class RequestModel(BaseModel):
    """The base of every request body model, and of every object nested in one.

    A JSON ``null`` in an optional field means the field was left out: the key is dropped before
    validation, so the field takes its default exactly as when it is absent (incident.io's SDK
    sends ``"description": null`` for ``description=None``). A ``null`` in a required field is
    kept and fails as ``is_required`` at the field's pointer. A field added to a subclass gets
    this without saying so.

    Put a limit on the value's type, not on the optional union
    (``Annotated[list[X], Field(max_length=500)] | None``, not ``list[X] | None =
    Field(max_length=500)``): pydantic applies a limit set on the union to ``None`` too, where
    its length check raises TypeError (a 500) instead of a validation error, and the OpenAPI
    document shows ``maxLength`` on an array instead of ``maxItems``.
    """

    @model_validator(mode="before")
    @classmethod
    def null_means_left_out(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(value is None for value in data.values()):
            return data
        optional = {
            info.alias or name for name, info in cls.model_fields.items() if not info.is_required()
        }
        return {
            key: value for key, value in data.items() if value is not None or key not in optional
        }


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("is_required", "must not be blank")
    return value


TIMESTAMP_RANGE_PROBLEM = f"must lie from {EARLIEST:%Y-%m-%d} to the end of {LATEST.year - 1} (UTC)"


def timestamp_problem(error: ValueError) -> str:
    """What is wrong with a timestamp ``parse_ts`` or ``to_utc`` refused (``invalid_value``)."""
    if isinstance(error, OutOfRange):
        return "must lie within years 1 to 9999 in UTC"
    return "must be an RFC 3339 timestamp, e.g. 2025-01-28T10:00:00Z"


def _timestamp(value: Any) -> Any:
    try:
        if isinstance(value, str):
            return parse_ts(value)
        if isinstance(value, datetime):
            return to_utc(value)
    except ValueError as error:
        raise PydanticCustomError("invalid_value", timestamp_problem(error)) from None
    raise PydanticCustomError("invalid_value", "must be an RFC 3339 timestamp string")


# Every text a request body carries is one line or several (``clarion.text``): control
# characters are refused with ``invalid_value`` at the field's pointer (after blanks, which
# are ``is_required``).
NonBlank = Annotated[str, AfterValidator(_not_blank), SINGLE_LINE]
Name = Annotated[str, StringConstraints(max_length=200), AfterValidator(_not_blank), SINGLE_LINE]
Message = Annotated[str, StringConstraints(max_length=4096), AfterValidator(_not_blank), MULTI_LINE]
IdempotencyKey = Annotated[
    str, StringConstraints(max_length=255), AfterValidator(_not_blank), SINGLE_LINE
]


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError("invalid_value", TIMESTAMP_RANGE_PROBLEM)
    return value


#: A moment in a request body: an RFC 3339 string within ``EARLIEST`` .. ``LATEST``.
Timestamp = Annotated[datetime, BeforeValidator(_timestamp), AfterValidator(_in_range)]
