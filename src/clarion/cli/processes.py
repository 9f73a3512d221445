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
import time
from collections.abc import Callable
from typing import Any

import click

from clarion.cli.http_server import check_address_free

#: A process that exits with an error this soon after starting failed to start (port taken, bad
#: settings): stop everything instead of restarting it forever. (One killed by a signal is
#: replaced.)
STARTUP_SECONDS = 10.0


def supervise(serve: Callable[[str, int], None], host: str, port: int, workers: int) -> None:
    """Run ``workers`` processes, each ``serve(host, port)``, until SIGINT or SIGTERM."""
    # Fail here, clearly, when the address cannot be had (rather than in every child).
    check_address_free(host, port)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=serve, args=(host, port), daemon=False)
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
                process.terminate()  # SIGTERM: it finishes the requests in flight, then exits
        deadline = time.monotonic() + 30
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
