"""``clarion serve`` and ``clarion worker``."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click

from clarion.cli.common import load_settings, migrate, setup_logging
from clarion.settings import Settings


def serve_app(
    host: str,
    port: int,
    *,
    worker: bool | None = None,
    banner: str | None = None,
    settings: Settings | None = None,
) -> None:
    import gc

    import uvicorn

    from clarion.app import create_app

    settings = settings or load_settings()
    setup_logging(settings.log_level)
    migrate(settings)
    app = create_app(settings, run_worker=worker)
    # What exists after start-up (modules, the app, its routes) lives as long as the process:
    # take it out of the collector's view, so full collections scan only what requests made
    # (their pauses were the public page's p99).
    gc.collect()
    gc.freeze()
    if banner:
        click.echo(banner)
    uvicorn.run(app, host=host, port=port, **uvicorn_options(settings.log_level))


def uvicorn_options(log_level: str) -> dict[str, Any]:
    """How ``clarion serve`` runs uvicorn (also used by the public page benchmark's baseline):
    uvloop and httptools when installed (``auto``), no access log, no ``Server`` header, and
    ``X-Forwarded-*`` from trusted proxies."""
    return {
        "log_level": log_level,
        "access_log": False,
        "proxy_headers": True,
        "server_header": False,
    }


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--worker/--no-worker",
    default=None,
    help="Run background work (notifications, maintenance automation) in this process "
    "(default: on; turn off when separate `clarion worker` processes run).",
)
def serve_command(host: str, port: int, worker: bool | None) -> None:
    """Serve the API, the public status pages and the background worker on one port."""
    serve_app(host, port, worker=worker)


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


commands = [serve_command, worker_command]
