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
        # Builders already leave optional keys out, so walking every body to drop ``None``
        # is usually wasted work: serialise first, and walk only when a ``null`` may be there
        # (the bytes also match inside a string such as "nullable"; that just takes the slow,
        # equally correct path).
        body = orjson.dumps(content)
        if b"null" in body:
            body = orjson.dumps(drop_nones(content))
        return body


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)
