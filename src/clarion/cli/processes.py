"""``clarion serve --workers N``: N server processes, each with its own listening socket on the
same address (``SO_REUSEPORT``), so that the kernel spreads connections evenly over them.

(With one socket shared by every process, whichever process is idle at the moment accepts:
a burst of new keep-alive connections could all land on one process and leave the others with
nothing to do for as long as those connections live.)

The parent only supervises: it starts the processes, restarts one that dies, and passes
SIGINT/SIGTERM on so that each finishes its requests and stops.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import click

#: A process that exits with an error this soon after starting failed to start (port taken, bad
#: settings): stop everything instead of restarting it forever. (One killed by a signal is
#: replaced.)
STARTUP_SECONDS = 10.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other processes may share (``SO_REUSEPORT``)."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(address)
    sock.listen(2048)
    return sock


def _run_server(factory: Callable[[], Any], host: str, port: int, options: dict[str, Any]) -> None:
    """One server process (the target of each child)."""
    import uvicorn

    sock = listening_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(factory(), **options))
    server.run(sockets=[sock])


def supervise(
    factory: Callable[[], Any], host: str, port: int, workers: int, options: dict[str, Any]
) -> None:
    """Run ``workers`` server processes on ``host:port`` until SIGINT or SIGTERM."""
    # Fail here, clearly, when the address cannot be had (rather than in every child).
    listening_socket(host, port).close()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_run_server, args=(factory, host, port, options), daemon=False
        )
        process.start()
        return process

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    started = [time.monotonic()] * workers
    click.echo(f"clarion serve: {workers} processes on {host}:{port}", err=True)
    try:
        while not stopping:
            time.sleep(0.25)
            for index, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                code = process.exitcode or 0
                if code > 0 and time.monotonic() - started[index] < STARTUP_SECONDS:
                    raise click.ClickException(
                        f"a server process exited while starting (code {process.exitcode})"
                    )
                click.echo(
                    f"clarion serve: process {process.pid} exited ({process.exitcode}); "
                    "starting another",
                    err=True,
                )
                processes[index] = start()
                started[index] = time.monotonic()
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes what it is doing, then exits
        deadline = time.monotonic() + 30
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
