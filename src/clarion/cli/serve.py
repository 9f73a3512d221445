"""``clarion serve`` and ``clarion worker``."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import tempfile
from typing import TYPE_CHECKING

import click

from clarion.cli.common import load_settings, migrate, setup_logging, with_base_url

if TYPE_CHECKING:
    from fastapi import FastAPI

    from clarion.settings import Settings


#: The collector's thresholds while serving (CPython's default is 700, 10, 10). An uncached
#: public page builds a snapshot of tens of thousands of objects; with the default, collections
#: ran every few renders and their pauses set the uncached page's tail latency.
GC_THRESHOLDS = (50_000, 20, 100)

#: The variable that sets each process's PostgreSQL pool (``Settings.db_pool_size``).
POOL_SIZE_VARIABLE = "CLARION_DB_POOL_SIZE"


def pool_size_per_process(pool_size: int, workers: int) -> int:
    """Each of ``workers`` processes' pool when ``CLARION_DB_POOL_SIZE`` is not set: the
    default shared out, so that ``--workers N`` opens no more PostgreSQL connections in all
    than one process does (at least 4 each)."""
    return max(4, pool_size // workers)


def _freeze_startup_objects() -> None:
    """What exists after start-up (modules, the app, its routes) lives as long as the process:
    take it out of the collector's view, so full collections scan only what requests made
    (their pauses were the public page's p99); then collect less often (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve_in_worker_process(host: str, port: int) -> None:
    """One process of ``clarion serve --workers N`` (run in every process it starts; the
    parent has already migrated the database and checked that the address is free)."""
    from clarion.app import create_app

    settings = load_settings()
    setup_logging(settings.log_level)
    app = create_app(settings)
    _freeze_startup_objects()
    _serve(app, host, port, settings)


def _serve(app: FastAPI, host: str, port: int, settings: Settings) -> None:
    from clarion.cli.http_server import http_server, ip_address, serve_until_signalled

    serve_until_signalled(http_server(app, ip_address(host, port), port, settings))


def serve_app(
    host: str,
    port: int,
    *,
    worker: bool | None = None,
    banner: str | None = None,
    settings: Settings | None = None,
    workers: int = 1,
    migrated: bool = False,
    new_database: bool = False,
) -> None:
    """Serve on ``host:port`` until SIGINT or SIGTERM. ``settings`` default to the
    environment's, with the base URL derived from ``host`` and ``port`` unless
    ``CLARION_BASE_URL`` is set; ``migrated``: the caller has brought the database to the
    current schema already; ``new_database``: start on a new SQLite file even where one was
    before; ``banner`` is printed once the server is about to listen."""
    from clarion.app import create_app
    from clarion.cli.http_server import check_address_free

    if workers > 1 and settings is not None:
        raise click.UsageError("--workers needs its settings from the environment")
    settings = settings or with_base_url(load_settings(), host, port)
    setup_logging(settings.log_level)
    if not migrated:
        migrate(settings, new_database=new_database)
    if workers > 1:
        from clarion.cli.processes import supervise
        from clarion.context import SHARED_RATE_LIMIT_FILE
        from clarion.http.ratelimit import SharedFileRateLimiter

        # The processes read their settings from the environment: the derived base URL too.
        os.environ.setdefault("CLARION_BASE_URL", settings.base_url)
        if worker is not None:
            os.environ["CLARION_RUN_WORKER_IN_SERVE"] = "true" if worker else "false"
        if POOL_SIZE_VARIABLE not in os.environ:
            pool_size = pool_size_per_process(settings.db_pool_size, workers)
            os.environ[POOL_SIZE_VARIABLE] = str(pool_size)
        if banner:
            click.echo(banner)
        with tempfile.TemporaryDirectory(prefix="clarion-serve-") as shared:
            if not settings.redis_url:
                # One token bucket per key across the processes (Redis, when set, shares them).
                path = os.path.join(shared, "rate-limit")
                SharedFileRateLimiter.create(path)
                os.environ[SHARED_RATE_LIMIT_FILE] = path
            supervise(serve_in_worker_process, host, port, workers)
        return
    check_address_free(host, port)
    app = create_app(settings, run_worker=worker)
    _freeze_startup_objects()
    if banner:
        click.echo(banner)
    _serve(app, host, port, settings)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--worker/--no-worker",
    default=None,
    help="Run background work (notifications, maintenance automation) in this process "
    "(default: on; turn off when separate `clarion worker` processes run).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (up to one per core). They share rate limits "
    "(through Redis when CLARION_REDIS_URL is set, else through a file on this machine) and the "
    "database; each keeps its own render cache.",
)
@click.option(
    "--new-database",
    is_flag=True,
    help="Start on a new, empty SQLite database even though one was there before and is now "
    "missing (by default Clarion refuses, so that a deleted database is noticed).",
)
def serve_command(
    host: str, port: int, worker: bool | None, workers: int, new_database: bool
) -> None:
    """Serve the API, the public status pages and the background worker on one port.

    Unless CLARION_BASE_URL is set, the public base URL (links in e-mails, feeds and the
    API's public_url) is http://HOST:PORT.
    """
    serve_app(host, port, worker=worker, workers=workers, new_database=new_database)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit.")
def worker_command(once: bool) -> None:
    """Run background work (outbox delivery, maintenance automation) without serving HTTP."""
    from clarion.context import AppContext
    from clarion.worker import run_forever, run_once

    settings = load_settings()
    setup_logging(settings.log_level)
    migrate(settings)

    async def main() -> None:
        ctx = AppContext.build(settings)
        try:
            if once:
                await run_once(ctx)
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_forever(ctx, stop)
        finally:
            await ctx.close()

    asyncio.run(main())
