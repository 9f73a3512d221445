"""JSON responses: orjson, and never a ``null`` on the wire."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def drop_nones(value: Any) -> Any:
    """Remove ``None`` values from dicts, recursively (the SDK breaks on ``null``)."""
    if isinstance(value, dict):
        return {k: drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nones(v) for v in value]
    return value


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(drop_nones(content))


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)
