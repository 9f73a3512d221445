"""``idempotency_key`` on create endpoints: the first response is stored with the created rows,
in the same transaction, and replayed for every later request with the same key.

Keys are scoped to the endpoint (one namespace per create endpoint, shared by every API key of
the installation). A reused key with a different payload is refused with 422
``idempotency_key_reused``. Concurrent duplicates: on SQLite, writes take turns, so the second
finds the first's record and replays it. On PostgreSQL both may do the work, but the record is
inserted in the same transaction, last: the second insert waits on the unique index until the
first commits, fails, and its whole transaction (incident, ledger rows, notifications) rolls
back before it replays the winner's response. Exactly one set of rows is ever committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.db.base import insert_into
from clarion.errors import ValidationFailed
from clarion.http.idempotency_models import IdempotencyRecord
from clarion.http.json import drop_nones
from clarion.ids import new_id

#: Built once: it runs on every create.
_RECORD = select(
    IdempotencyRecord.request_hash,
    IdempotencyRecord.response_status,
    IdempotencyRecord.response_body,
).where(
    IdempotencyRecord.endpoint == bindparam("endpoint"), IdempotencyRecord.key == bindparam("key")
)


_INSERT_RECORD = insert_into(IdempotencyRecord)


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _replay(record: Any, digest: str) -> tuple[int, dict[str, Any]]:
    if record.request_hash != digest:
        raise ValidationFailed.at(
            "idempotency_key_reused",
            "This idempotency_key was already used with a different request body",
            "idempotency_key",
        )
    body: dict[str, Any] = orjson.loads(record.response_body)
    return record.response_status, body


async def run_idempotent(
    ctx: AppContext,
    endpoint: str,
    key: str,
    payload: dict[str, Any],
    action: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
    status: int = 201,
) -> tuple[int, dict[str, Any]]:
    """Run ``action`` once per (endpoint, key); return (status, body), original or replayed."""
    digest = payload_hash(payload)
    params = {"endpoint": endpoint, "key": key}
    for _attempt in range(5):
        try:
            async with ctx.db.write() as session:
                existing = (await session.execute(_RECORD, params)).first()
                if existing is not None:
                    return _replay(existing, digest)
                body = drop_nones(await action(session))
                await session.execute(
                    _INSERT_RECORD,
                    {
                        "id": new_id(),
                        "endpoint": endpoint,
                        "key": key,
                        "request_hash": digest,
                        "response_status": status,
                        "response_body": orjson.dumps(body).decode(),
                        "created_at": ctx.clock.now(),
                    },
                )
                return status, body
        except IntegrityError:
            # Lost the race to a concurrent request with the same key: replay its response.
            async with ctx.db.read() as session:
                existing = (await session.execute(_RECORD, params)).first()
            if existing is not None:
                return _replay(existing, digest)
    raise RuntimeError("idempotent request kept conflicting")


async def purge_expired(session: AsyncSession, ctx: AppContext) -> int:
    """Forget keys older than the retention period."""
    cutoff = ctx.clock.now() - timedelta(hours=ctx.settings.idempotency_retention_hours)
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
