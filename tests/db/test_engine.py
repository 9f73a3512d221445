"""``Database.read_single``: one statement outside any transaction (used for every API key
lookup), so it neither holds a snapshot nor pays for BEGIN and COMMIT."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy import select, text

from clarion.api_keys.models import ApiKey
from clarion.api_keys.service import create_key, revoke_key
from clarion.context import AppContext
from tests.harness import LiveServer


async def _in_transaction(conn: Any) -> bool:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if hasattr(driver, "in_transaction"):  # aiosqlite
        return bool(driver.in_transaction)
    from psycopg.pq import TransactionStatus

    return bool(driver.info.transaction_status != TransactionStatus.IDLE)


def test_read_single_runs_its_statement_outside_a_transaction(server: LiveServer) -> None:
    async def body(ctx: AppContext) -> tuple[int, bool, bool]:
        async with ctx.db.read_single() as conn:
            value = (await conn.execute(text("SELECT 41 + 1"))).scalar_one()
            single = await _in_transaction(conn)
        async with ctx.db.read() as session:
            await session.execute(text("SELECT 1"))
            regular = await _in_transaction(await session.connection())
        return value, single, regular

    value, single, regular = server.call(body)
    assert value == 42
    assert single is False
    assert regular is True  # the check can tell the difference


def test_read_single_sees_a_revocation_committed_just_before(server: LiveServer) -> None:
    async def body(ctx: AppContext) -> list[bool]:
        async with ctx.db.write() as session:
            key, _token = await create_key(session, "short-lived", ["viewer"], ctx.clock.now())
        live = select(ApiKey.id).where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        seen: list[bool] = []
        async with ctx.db.read_single() as conn:
            seen.append((await conn.execute(live)).first() is not None)
        async with ctx.db.write() as session:
            await revoke_key(session, key.id, ctx.clock.now())
        async with ctx.db.read_single() as conn:
            seen.append((await conn.execute(live)).first() is not None)
        return seen

    assert server.call(body) == [True, False]


def test_sqlite_blocks_give_their_connection_back_without_a_trip_round_the_loop(
    server: LiveServer,
) -> None:
    """Leaving ``read``, ``read_single`` or ``write`` on SQLite returns the connection to its
    pool before any other task runs. (SQLAlchemy's own ``async with`` closes through a new task:
    under load, requests then held connections while other requests ran, queued for the pool,
    and ``asyncio.Queue`` let newcomers overtake them: seconds-long stalls for a few.)"""
    if not server.ctx.db.is_sqlite:
        pytest.skip("PostgreSQL connections keep SQLAlchemy's cancellation-safe close")

    async def body(ctx: AppContext) -> list[tuple[str, bool, int, int]]:
        seen: list[tuple[str, bool, int, int]] = []
        blocks: dict[str, Callable[[], AbstractAsyncContextManager[Any]]] = {
            "read": ctx.db.read,
            "read_single": ctx.db.read_single,
            "write": ctx.db.write,
        }
        for name, block in blocks.items():
            ran: list[bool] = []
            engine = ctx.db.write_engine if name == "write" else ctx.db.read_engine
            async with block() as handle:
                await handle.execute(text("SELECT 1"))
                asyncio.get_running_loop().call_soon(ran.append, True)
                held = engine.pool.checkedout()  # type: ignore[attr-defined]
            seen.append((name, bool(ran), held, engine.pool.checkedout()))  # type: ignore[attr-defined]
        return seen

    assert server.call(body) == [
        ("read", False, 1, 0),
        ("read_single", False, 1, 0),
        ("write", False, 1, 0),
    ]
