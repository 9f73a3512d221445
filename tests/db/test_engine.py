"""``Database.read_single``: one statement outside any transaction (used for every API key
lookup), so it neither holds a snapshot nor pays for BEGIN and COMMIT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from clarion.api_keys.models import ApiKey
from clarion.api_keys.service import create_key, revoke_key
from clarion.context import AppContext
from clarion.db.engine import IDLE_PING_SECONDS
from tests.db.records import RECORD_INSERT, record_row
from tests.factories import make_key, make_page
from tests.harness import PG_ADMIN_URL, LiveServer, backend, fresh_database, live_server


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

    # What runs next finds the connection back (0) and, after a write, the write lock free
    # (it would add 10).
    assert server.call(body) == [True, False]


def test_sqlite_blocks_give_their_connection_back_before_other_tasks_run(
    server: LiveServer,
) -> None:
    """Leaving ``read``, ``read_single`` or ``write`` on SQLite returns the connection to its
    pool before any other task runs, and then lets them run. (SQLAlchemy's own ``async with``
    closes through a new task: under load, requests held connections while other requests ran,
    queued for the pool, and ``asyncio.Queue`` let newcomers overtake them: seconds-long stalls
    for a few. Without the turn afterwards, a loop of inline statements would hold the event
    loop.)"""
    if not server.ctx.db.is_sqlite:
        pytest.skip("PostgreSQL connections keep SQLAlchemy's cancellation-safe close")

    async def body(ctx: AppContext) -> list[tuple[str, int, list[int]]]:
        seen: list[tuple[str, int, list[int]]] = []
        blocks: dict[str, Callable[[], AbstractAsyncContextManager[Any]]] = {
            "read": ctx.db.read,
            "read_single": ctx.db.read_single,
            "write": ctx.db.write,
        }
        for name, block in blocks.items():
            engine = ctx.db.write_engine if name == "write" else ctx.db.read_engine
            pool: Any = engine.pool
            others_saw: list[int] = []
            async with block() as handle:
                await handle.execute(text("SELECT 1"))
                asyncio.get_running_loop().call_soon(
                    lambda p=pool, saw=others_saw, db=ctx.db: saw.append(
                        p.checkedout() + 10 * bool(db._write_lock and db._write_lock.locked())
                    )
                )
                held = pool.checkedout()
            seen.append((name, held, list(others_saw)))  # as it was when the block ended
        return seen

    # What runs next finds the connection back (0) and, after a write, the write lock free
    # (it would add 10).
    assert server.call(body) == [
        ("read", 1, [0]),
        ("read_single", 1, [0]),
        ("write", 1, [0]),
    ]


def _terminate_backends(url: str) -> int:
    """End every server session on ``url``'s database, as a restart would; how many."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (url.rsplit("/", 1)[1],),
        ).fetchone()
    assert killed is not None
    return int(killed[0])


def test_postgresql_connections_dropped_while_idle_are_replaced_before_use(
    tmp_path: Path,
) -> None:
    """Connections are checked on checkout only after a second of idleness (not on every
    checkout, which costs a round trip per request); one the server dropped meanwhile is
    replaced before any request sees it."""
    if backend() != "postgresql":
        pytest.skip("SQLite has no server to drop connections")

    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        token = make_key(srv, "viewer")
        auth = {"Authorization": f"Bearer {token}"}

        def identities(count: int) -> list[int]:
            with ThreadPoolExecutor(count) as pool:
                return list(
                    pool.map(
                        lambda _: (
                            httpx.get(f"{srv.base_url}/v1/identity", headers=auth).status_code
                        ),
                        range(count),
                    )
                )

        assert identities(8) == [200] * 8  # several pooled connections now
        assert _terminate_backends(url) >= 1
        time.sleep(IDLE_PING_SECONDS + 0.2)
        assert identities(8) == [200] * 8


def test_postgresql_lean_connections_dropped_by_the_server_are_replaced_at_once(
    tmp_path: Path,
) -> None:
    """The lean connections (key lookups, cached lists, creates) are not pinged before use: a
    self-contained read on one the server dropped runs again on a new connection, so even the
    very next requests succeed."""
    if backend() != "postgresql":
        pytest.skip("SQLite has no server to drop connections")

    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        page = make_page(srv, components=2)
        token = make_key(srv, "status_page_publisher")
        auth = {"Authorization": f"Bearer {token}"}

        def create(index: int) -> int:
            body = {
                "status_page_id": page.id,
                "name": f"Outage {index}",
                "incident_status": "investigating",
                "message": "Looking into it.",
                "notify_subscribers": False,
                "idempotency_key": f"dropped-{index}",
                "component_statuses": [
                    {
                        "component_id": next(iter(page.components.values())),
                        "component_status": "degraded_performance",
                    }
                ],
            }
            return httpx.post(
                f"{srv.base_url}/v2/status_page_incidents", json=body, headers=auth
            ).status_code

        listed = f"{srv.base_url}/v2/status_page_incidents?status_page_id={page.id}"

        def creates(offset: int) -> list[int]:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(create, range(offset, offset + 8)))

        def lists() -> list[int]:
            with ThreadPoolExecutor(8) as pool:
                return list(
                    pool.map(lambda _: httpx.get(listed, headers=auth).status_code, range(8))
                )

        assert creates(0) == [201] * 8
        assert lists() == [200] * 8  # the list is cached now: answered with lean reads only
        lean = srv.ctx.db._lean_pg
        assert lean is not None and lean.count >= 2  # several lean connections now
        assert _terminate_backends(url) >= 2
        # No pause: nothing was pinged first.
        assert lists() == [200] * 8
        assert creates(8) == [201] * 8


def test_postgresql_group_commit_replaces_a_dropped_connection_before_writing(
    tmp_path: Path,
) -> None:
    """A lean write that reads nothing hands its statement to the shared transaction at once;
    when the connection that transaction takes was dropped, its BEGIN finds out and it runs on a
    new one."""
    if backend() != "postgresql":
        pytest.skip("SQLite has no server to drop connections")

    from clarion.http.idempotency_models import IdempotencyRecord

    async def write(ctx: AppContext, key: str) -> None:
        async with ctx.db.lean_write() as tx:
            await tx.run(RECORD_INSERT, [record_row(ctx, "dropped", key)])

    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        srv.call(lambda ctx: write(ctx, "before"))
        _terminate_backends(url)
        srv.call(lambda ctx: write(ctx, "after"))

        async def stored(ctx: AppContext) -> set[str]:
            async with ctx.db.read() as session:
                rows = await session.scalars(
                    select(IdempotencyRecord.key).where(IdempotencyRecord.endpoint == "dropped")
                )
                return set(rows)

        time.sleep(IDLE_PING_SECONDS + 0.2)  # the pooled connection checks itself now
        assert srv.call(stored) == {"before", "after"}
