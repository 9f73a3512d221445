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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.db.base import insert_into
from clarion.db.lean import INTEGRITY_ERRORS, LeanStatement, LeanTx
from clarion.errors import ValidationFailed
from clarion.events import SessionNeeded
from clarion.http.idempotency_models import IdempotencyRecord
from clarion.http.json import drop_nones
from clarion.ids import new_id

_RECORD = LeanStatement(
    select(
        IdempotencyRecord.request_hash,
        IdempotencyRecord.response_status,
        IdempotencyRecord.response_body,
    ).where(
        IdempotencyRecord.endpoint == bindparam("endpoint"),
        IdempotencyRecord.key == bindparam("key"),
    )
)
_INSERT_RECORD = LeanStatement(
    insert_into(IdempotencyRecord),
    ("id", "endpoint", "key", "request_hash", "response_status", "response_body", "created_at"),
)

#: ``action(tx, session)``: the write, on ``tx``; ``session`` is None in a lean transaction.
Action = Callable[[LeanTx, AsyncSession | None], Awaitable[dict[str, Any]]]


def in_session(write: Callable[[AsyncSession], Awaitable[dict[str, Any]]]) -> Action:
    """An ``Action`` for a write made through the ORM session (not lean)."""

    async def action(_tx: LeanTx, session: AsyncSession | None) -> dict[str, Any]:
        if session is None:
            raise SessionNeeded("this write runs in a session")
        return await write(session)

    return action


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _replay(record: Sequence[Any], digest: str) -> tuple[int, dict[str, Any]]:
    request_hash, status, body = record
    if request_hash != digest:
        raise ValidationFailed.at(
            "idempotency_key_reused",
            "This idempotency_key was already used with a different request body",
            "idempotency_key",
        )
    return int(status), orjson.loads(body)


@asynccontextmanager
async def _transaction(
    ctx: AppContext, lean: bool
) -> AsyncIterator[tuple[LeanTx, AsyncSession | None]]:
    if lean:
        async with ctx.db.lean_write() as tx:
            yield tx, None
    else:
        async with ctx.db.write() as session:
            yield await LeanTx.of_session(session), session


async def run_idempotent(
    ctx: AppContext,
    endpoint: str,
    key: str,
    payload: dict[str, Any],
    action: Action,
    status: int = 201,
    *,
    lean: bool = False,
    ahead: Sequence[tuple[LeanStatement, Mapping[str, Any]]] = (),
) -> tuple[int, dict[str, Any]]:
    """Run ``action`` once per (endpoint, key); return (status, body), original or replayed.

    ``lean``: in a transaction on the driver's connection (``clarion.db.lean``), without an
    ORM session, unless the action asks for one (``SessionNeeded``). ``ahead``: reads the
    action starts with, made together with the key's lookup (``LeanTx.fetch_together``: one
    round trip on PostgreSQL); the action's own ``fetch`` of them gets those rows."""
    digest = payload_hash(payload)
    params = {"endpoint": endpoint, "key": key}
    for _attempt in range(5):
        try:
            async with _transaction(ctx, lean) as (tx, session):
                existing, *early = await tx.fetch_together([(_RECORD, params), *ahead])
                for (statement, values), rows in zip(ahead, early, strict=True):
                    tx.read_ahead(statement, values, rows)
                if existing:
                    return _replay(existing[0], digest)
                body = drop_nones(await action(tx, session))
                record = {
                    "id": new_id(),
                    "endpoint": endpoint,
                    "key": key,
                    "request_hash": digest,
                    "response_status": status,
                    "response_body": orjson.dumps(body).decode(),
                    "created_at": ctx.clock.now(),
                }
                await tx.run(_INSERT_RECORD, [record])
                return status, body
        except SessionNeeded:
            lean = False
        except INTEGRITY_ERRORS:
            # Lost the race to a concurrent request with the same key: replay its response.
            async with ctx.db.read() as session:
                existing = await (await LeanTx.of_session(session)).fetch(_RECORD, params)
            if existing:
                return _replay(existing[0], digest)
    raise RuntimeError("idempotent request kept conflicting")


async def purge_expired(session: AsyncSession, ctx: AppContext) -> int:
    """Forget keys older than the retention period."""
    cutoff = ctx.clock.now() - timedelta(hours=ctx.settings.idempotency_retention_hours)
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
