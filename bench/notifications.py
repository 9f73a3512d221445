"""The notification benchmark: ``uv run python -m bench.notifications`` (or
``make bench-notifications``).

For each backend, in one run, on loopback, with bounded load:

1. A fresh database with the page of ``seed.DECLARATION``, 1,000 incidents, and
   ``--subscribers`` (10,000) confirmed e-mail subscribers of the whole page.
2. A local SMTP server (aiosmtpd, in this process) that accepts and counts messages, and
   ``clarion serve`` with its built-in worker pointed at it (or, with ``--separate-worker``,
   ``clarion serve --no-worker`` and one ``clarion worker`` process beside it).
3. **Baseline**: list-incidents latency with ``--clients`` closed-loop clients, no fan-out.
4. **Fan-out**: one incident with ``notify_subscribers: true``, then the same list load runs
   until the SMTP server has accepted every message. Reported: seconds from the create request
   to the last message accepted, duplicates, and the list latency during the fan-out next to
   the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from bench import client, report, seed, server
from bench.report import Figure, Target
from clarion.ids import new_id
from clarion.subscribers.models import Subscription

DELIVERY = Target(60.0)


class CountingSink:
    """Accepts every message; counts messages and recipients (to spot duplicates)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.recipients: set[str] = set()
        self.duplicates = 0
        self.last_at = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            for rcpt in envelope.rcpt_tos:
                if rcpt in self.recipients:
                    self.duplicates += 1
                self.recipients.add(rcpt)
            self.last_at = time.perf_counter()
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[CountingSink, int]]:
    sink = CountingSink()
    port = server.free_port()
    controller = Controller(sink, hostname=server.HOST, port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextlib.contextmanager
def serve(
    database_url: str, log_path: Path, separate_worker: bool, env: dict[str, str]
) -> Iterator[tuple[server.Server, list[int]]]:
    """``clarion serve`` with its built-in worker, or (``separate_worker``) with the worker
    off and one ``clarion worker`` process beside it; the server and every Clarion pid."""
    if not separate_worker:
        with server.serve(database_url, log_path, env=env) as srv:
            yield srv, [srv.pid]
        return
    with server.serve(database_url, log_path, args=("--no-worker",), env=env) as srv:
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [server.clarion_executable(), "worker"],
                env=server.environment(database_url, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            yield srv, [srv.pid, worker.pid]
        finally:
            server.stop(worker, 15)


def add_subscribers(
    engine: Engine,
    page_id: str,
    count: int,
    follows: Callable[[int], list[str]] = lambda i: [],
) -> None:
    """``count`` confirmed e-mail subscribers; the ``i``-th follows ``follows(i)`` (its
    component ids; by default none: the whole page)."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": new_id(),
            "status_page_id": page_id,
            "channel": "email",
            "email": f"reader{i:05d}@bench.example",
            "component_ids": follows(i),
            "confirmed_at": now,
            "consecutive_failures": 0,
            "confirmations_sent": 0,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(Subscription.__table__), rows[start : start + 1000])


def post_json(url: str, token: str, body: dict[str, Any]) -> tuple[int, float]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        return response.status, time.perf_counter() - started


@dataclass
class Options:
    subscribers: int = 10_000
    clients: int = 4
    separate_worker: bool = False


def run_backend(backend: str, log_dir: Path, opts: Options) -> list[Figure]:
    print(
        f"\n== notifications, {backend}: {opts.subscribers:,} subscribers, worker "
        f"{'in its own process' if opts.separate_worker else 'inside clarion serve'} ==",
        flush=True,
    )
    now = datetime.now(UTC)
    with (
        seed.declared_database(backend, log_dir) as (raw_url, engine),
        smtp_server() as (sink, smtp_port),
    ):
        page = seed.find_page(engine)
        tokens = seed.create_keys(engine, opts.clients + 1, now)
        seed.seed_incidents(engine, page, 1000, now, seed=1)
        add_subscribers(engine, page.id, opts.subscribers)
        env = {
            "CLARION_SMTP_URL": f"smtp://{server.HOST}:{smtp_port}",
            "CLARION_SMTP_FROM": "Bench <status@bench.example>",
            "CLARION_SECRET_KEY": "bench-secret-key",
        }
        log_path = log_dir / f"serve-notifications-{backend}.log"
        with serve(raw_url, log_path, opts.separate_worker, env) as (srv, pids):
            path = f"/v2/status_page_incidents?status_page_id={page.id}&page_size=25"
            listing = client.Request(
                client.http_request("GET", path, host=f"{srv.host}:{srv.port}", token=tokens[0]),
                "list",
            )

            def list_load(name: str, seconds: float, until: threading.Event) -> client.Result:
                """Closed-loop lists for ``seconds`` at most, or until ``until`` is set."""
                return asyncio.run(
                    client.drive(
                        name,
                        srv,
                        lambda _i, _s: listing,
                        clients=opts.clients,
                        total_requests=sys.maxsize,
                        time_cap=seconds,
                        until=until.is_set,
                    )
                )

            never = threading.Event()
            list_load("warm-up", 3, never)
            baseline = list_load("list, baseline", 15, never)
            delivered = threading.Event()

            def watch() -> None:
                while sink.count < opts.subscribers and not delivered.is_set():
                    time.sleep(0.05)
                delivered.set()

            body = {
                "status_page_id": page.id,
                "name": "Notification benchmark",
                "incident_status": "investigating",
                "message": "Testing **notifications** at scale.",
                "notify_subscribers": True,
                "idempotency_key": str(uuid.uuid4()),
                "component_statuses": [],
            }
            cpu_before = sum(client.process_cpu_seconds(pid) for pid in pids)
            fan_out_started = time.perf_counter()
            status, create_seconds = post_json(
                f"{srv.base_url}/v2/status_page_incidents", tokens[-1], body
            )
            if status != 201:
                raise RuntimeError(f"create answered {status}")
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            during = list_load("list, during the fan-out", 120, delivered)
            delivered.set()
            watcher.join()
            delivered_in = (sink.last_at or time.perf_counter()) - fan_out_started
            cpu = sum(client.process_cpu_seconds(pid) for pid in pids) - cpu_before
    print(f"  create with fan-out: {create_seconds * 1000:.0f} ms (one request, every row)")
    print(
        f"  accepted {sink.count:,}/{opts.subscribers:,} messages in {delivered_in:.1f} s "
        f"({sink.count / delivered_in:.0f}/s), duplicates {sink.duplicates}; Clarion CPU "
        f"{cpu:.1f} s ({cpu * 1000 / opts.subscribers:.2f} ms/message)"
    )
    for result in (baseline, during):
        print(f"    {result.describe()}")
    return [
        Figure(
            f"{opts.subscribers:,} e-mails accepted by the SMTP server",
            backend,
            delivered_in,
            "s",
            DELIVERY,
            sink.count == opts.subscribers and sink.duplicates == 0,
            f"{sink.count / delivered_in:.0f}/s",
        ),
        Figure(
            "list p99 during the fan-out / before it",
            backend,
            during.ms(99) / baseline.ms(99),
            "x",
            ok=not during.errors and not baseline.errors,
            note=f"{opts.clients} closed-loop clients; {baseline.ms(99):.2f} -> "
            f"{during.ms(99):.2f} ms",
        ),
    ]


def run(backends: list[str], log_dir: Path, opts: Options | None = None) -> list[Figure]:
    """Every backend in turn; the figures."""
    return [f for backend in backends for f in run_backend(backend, log_dir, opts or Options())]


def main(argv: list[str] | None = None) -> int:
    cli = report.parser("python -m bench.notifications", __doc__)
    defaults = Options()
    cli.add_argument("--subscribers", type=int, default=defaults.subscribers)
    cli.add_argument("--clients", type=int, default=defaults.clients, help="list clients")
    cli.add_argument(
        "--separate-worker",
        action="store_true",
        help="serve with --no-worker plus one `clarion worker` process",
    )
    args = cli.parse_args(argv)
    opts = Options(args.subscribers, args.clients, args.separate_worker)
    return report.run_and_report(lambda b, folder: run(b, folder, opts), args.backend)


if __name__ == "__main__":
    sys.exit(main())
