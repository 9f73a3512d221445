"""The HTTP server of ``clarion serve``: granian, embedded in the serving process's own event loop
(``granian.server.embed.Server``), so that each process of ``clarion serve [--workers N]`` is
one Python process answering on its own listening socket, and the tests run the very same
server in a thread of theirs. (Granian calls its embedded server experimental and says so in a
warning at start; the test suite checks what Clarion relies on, over real connections.)

As it is set up here: HTTP/1.1 with keep-alive, a connection idle for ``keep_alive_seconds``
closed (the same limit applies to a client sending a request's headers); no access log;
``X-Forwarded-For`` and ``X-Forwarded-Proto`` taken from the proxies ``forwarded_allow_ips``
names; on stop, no new connections, idle ones closed, requests in flight answered (with
``connection: close``), then the app's shutdown. Granian adds ``server: granian`` to answers
that do not set a ``Server`` header itself; it has no option to leave it out.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import TYPE_CHECKING, Any

import click
import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import Server
from granian.utils.proxies import wrap_asgi_with_proxy_headers

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from clarion.settings import Settings

#: Connections the kernel queues for the process while it is busy.
BACKLOG = 2048


def ip_address(host: str, port: int) -> str:
    """The IP address ``host`` names (granian binds to addresses, not names)."""
    try:
        return str(_resolve(host, port)[-1][0])
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc


def check_address_free(host: str, port: int) -> None:
    """Fail clearly when ``host:port`` cannot be had, because another server listens there
    too: granian's sockets share their port with any other socket that allows it (as each
    process of ``--workers N`` does), so without this check that would go unnoticed."""
    try:
        family, kind, proto, _name, address = _resolve(host, port)
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc


def _resolve(host: str, port: int) -> tuple[Any, ...]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]


def http_server(app: ASGIApp, address: str, port: int, settings: Settings) -> Server:
    """Granian's embedded server for ``app`` on ``address:port`` (an IP address), not started.

    ``app``'s lifespan runs when the server starts and after it has stopped."""
    level = settings.log_level.lower()
    return Server(
        wrap_asgi_with_proxy_headers(app, trusted_hosts=settings.forwarded_allow_ips),
        address=address,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        backlog=BACKLOG,
        http1_settings=HTTP1Settings(header_read_timeout=settings.keep_alive_seconds * 1000),
        log_level=LogLevels(level) if level in LogLevels.__members__ else LogLevels.info,
        log_access=False,
    )


def serve_until_signalled(server: Server) -> None:
    """Run ``server`` in a new uvloop event loop in this thread until SIGINT or SIGTERM, then
    stop it gracefully (see the module's docstring)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        loop = runner.get_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        runner.run(server.serve())
