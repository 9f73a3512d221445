"""``Database``: its two units of work give their connections back promptly, and
PostgreSQL connections the server dropped are replaced before a request sees them."""

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
from sqlalchemy import text

from clarion.context import AppContext
from clarion.db.engine import IDLE_PING_SECONDS
from tests.factories import make_key
from tests.harness import PG_ADMIN_URL, LiveServer, backend, fresh_database, live_server


def test_sqlite_blocks_give_their_connection_back_before_other_tasks_run(
    server: LiveServer,
) -> None:
    """Leaving ``read`` or ``write`` on SQLite returns the connection to its
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
                        p.checkedout() + 10 * db.write_lock.locked()
                    )
                )
                held = pool.checkedout()
            seen.append((name, held, list(others_saw)))  # as it was when the block ended
        return seen

    # What runs next finds the connection back (0) and, after a write, the write lock free
    # (it would add 10).
    assert server.call(body) == [
        ("read", 1, [0]),
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
