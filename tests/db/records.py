"""Rows that the lean write tests insert: idempotency records, which reference nothing, so a
test can write any number of them, tagged by ``endpoint`` and told apart by ``key``."""

from __future__ import annotations

import uuid
from typing import Any

from clarion.context import AppContext
from clarion.db.base import insert_into
from clarion.db.lean import LeanStatement
from clarion.http.idempotency_models import IdempotencyRecord

RECORD_INSERT = LeanStatement(
    insert_into(IdempotencyRecord),
    ("id", "endpoint", "key", "request_hash", "response_status", "response_body", "created_at"),
)


def record_row(
    ctx: AppContext, tag: str, key: str | int, row_id: str | None = None
) -> dict[str, Any]:
    """A record under ``tag`` with ``key`` (and ``row_id``, to collide with another's)."""
    return {
        "id": row_id or uuid.uuid4().hex[:26],
        "endpoint": tag,
        "key": str(key),
        "request_hash": "x",
        "response_status": 201,
        "response_body": "{}",
        "created_at": ctx.clock.now(),
    }
