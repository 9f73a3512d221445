"""A real Clarion server for tests: the HTTP server ``clarion serve`` runs (granian, set up as it
sets it up), on a loopback port, in a thread of this process.

The server has its own event loop (uvloop, as in ``clarion serve``); ``LiveServer.call`` runs a
coroutine on it, so tests can reach services (to set up data) with the same engine the server
uses. Time is an ``OffsetClock`` that tests may move forward.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import uvloop
from granian.server.embed import Server
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from clarion.app import create_app
from clarion.cli.http_server import http_server
from clarion.clock import OffsetClock
from clarion.context import AppContext
from clarion.db.migrate import upgrade
from clarion.public.routes import PublicSite
from clarion.settings import Settings

T = TypeVar("T")
PG_ADMIN_URL = os.environ.get(
    "CLARION_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def backend() -> str:
    """``sqlite`` (default) or ``postgresql``: which database the suite runs on."""
    return os.environ.get("CLARION_TEST_BACKEND", "sqlite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(tmp_dir: str) -> Iterator[str]:
    """A new, empty database URL on the configured backend; dropped afterwards."""
    if backend() == "sqlite":
        yield f"sqlite:///{tmp_dir}/clarion-{uuid.uuid4().hex[:8]}.db"
        return
    import psycopg

    name = f"clarion_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"postgresql://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveServer:
    base_url: str
    ctx: AppContext
    clock: OffsetClock
    loop: asyncio.AbstractEventLoop
    settings: Settings
    site: PublicSite

    def call(self, fn: Callable[[AppContext], Awaitable[T]], timeout: float = 60) -> T:
        """Run ``fn(ctx)`` on the server's event loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(_as_coro(fn, self.ctx), self.loop)
        return future.result(timeout)


async def _as_coro(fn: Callable[[AppContext], Awaitable[T]], ctx: AppContext) -> T:
    return await fn(ctx)


@contextmanager
def live_server(
    database_url: str, *, run_worker: bool = False, **overrides: Any
) -> Iterator[LiveServer]:
    """Migrate ``database_url`` and serve Clarion on it until the block ends."""
    port = free_port()
    values: dict[str, Any] = {
        "database_url": database_url,
        "base_url": f"http://127.0.0.1:{port}",
        "secret_key": "test-secret-key-0123456789",
    }
    values.update(overrides)
    settings = Settings(**values)
    upgrade(settings.database_url)
    clock = OffsetClock()
    holder: dict[str, Any] = {}

    def build() -> ASGIApp:
        ctx = AppContext.build(settings, clock)
        app = create_app(settings, context=ctx, run_worker=run_worker)
        holder.update(ctx=ctx, site=app.state.site)
        return app

    async def close() -> None:
        await holder["ctx"].close()

    with serve_in_thread(build, settings, port, close) as loop:
        yield LiveServer(
            base_url=f"http://127.0.0.1:{port}",
            ctx=holder["ctx"],
            clock=clock,
            loop=loop,
            settings=settings,
            site=holder["site"],
        )


@contextmanager
def serve_in_thread(
    build: Callable[[], ASGIApp],
    settings: Settings,
    port: int,
    after: Callable[[], Awaitable[None]] | None = None,
) -> Iterator[asyncio.AbstractEventLoop]:
    """The app ``build()`` makes (in the server's thread) served as ``clarion serve`` serves
    it, on ``127.0.0.1:port``, in a thread with its own event loop (uvloop, as in ``clarion
    serve``), until the block ends; then the server stops gracefully and ``after()`` runs on
    that loop. Yields the loop."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        holder["loop"] = loop
        try:
            quiet = settings.model_copy(update={"log_level": "warning"})
            server = http_server(build(), "127.0.0.1", port, quiet)
            holder["server"] = server
            ready.set()
            loop.run_until_complete(server.serve())
            if after is not None:
                loop.run_until_complete(after())
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name=f"clarion-test-server-{port}", daemon=True)
    thread.start()
    ready.wait(30)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("test server did not start") from None
            time.sleep(0.02)
    try:
        yield holder["loop"]
    finally:
        server: Server = holder["server"]
        holder["loop"].call_soon_threadsafe(server.stop)
        thread.join(30)


@contextmanager
def record_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block (any thread)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
