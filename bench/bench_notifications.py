"""The notification benchmark (issue 5, "Speed"): ``uv run python -m bench.bench_notifications``.

In one run, on loopback, with bounded load:

1. A fresh database (``--backend sqlite|postgresql``), the core benchmark's page, some
   incidents, and ``--subscribers`` (10,000) confirmed e-mail subscribers of the whole page.
2. A local SMTP server (aiosmtpd, in this process) that accepts and counts messages, and
   ``clarion serve`` in a subprocess with its built-in worker pointed at it.
3. **Baseline**: list-incidents latency with ``--clients`` closed-loop clients, no fan-out.
4. **Fan-out**: one incident with ``notify_subscribers: true`` (the create request writes
   every outbox row in its transaction: its latency is reported), then the same list load
   runs until the SMTP server has accepted every message. Reported: seconds from the create
   request to the last message accepted, messages per second, duplicates, and the list
   latency percentiles during the fan-out next to the baseline.

Targets: every message accepted within 60 s; list p99 during the fan-out within the core
benchmark's list target (25 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import insert

from bench import seed, server
from bench.client import Connection, http_request, percentile, process_cpu_seconds
from clarion.db.engine import make_sync_engine
from clarion.ids import new_id
from clarion.settings import Settings
from clarion.subscribers.models import Subscription

LIST_P99_TARGET_MS = 25.0
DELIVERY_TARGET_SECONDS = 60.0


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
    database_url: str, log_path: Path, separate_worker: bool, **extra: str
) -> Iterator[tuple[server.Server, list[subprocess.Popen[bytes]]]]:
    """``clarion serve`` on a free loopback port, with its built-in worker or (when
    ``separate_worker``) with the worker off and one ``clarion worker`` process beside it."""
    port = server.free_port()
    if separate_worker:
        extra = {**extra, "CLARION_RUN_WORKER_IN_SERVE": "false"}
    env = server.environment(database_url, **extra)
    processes: list[subprocess.Popen[bytes]] = []
    with open(log_path, "ab") as log:
        processes.append(
            subprocess.Popen(
                [server.clarion_executable(), "serve", "--host", server.HOST, "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        if separate_worker:
            processes.append(
                subprocess.Popen(
                    [server.clarion_executable(), "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    srv = server.Server(processes[0], server.HOST, port)
    try:
        server._wait_ready(srv)
        yield srv, processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def add_subscribers(database_url: str, page_id: str, count: int) -> None:
    engine = make_sync_engine(Settings(database_url=database_url).database_url)
    now = datetime.now(UTC)
    rows = [
        {
            "id": new_id(),
            "status_page_id": page_id,
            "channel": "email",
            "email": f"reader{i:05d}@bench.example",
            "component_ids": [],
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
    engine.dispose()


async def list_load(
    srv: server.Server, request: bytes, clients: int, stop: threading.Event, cap: float
) -> list[float]:
    """Closed-loop list requests until ``stop`` is set or ``cap`` seconds pass."""
    latencies: list[float] = []
    connections = [Connection(srv.host, srv.port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    deadline = time.perf_counter() + cap

    async def client(conn: Connection) -> None:
        while not stop.is_set() and time.perf_counter() < deadline:
            started = time.perf_counter()
            status, _body = await conn.send(request)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"list answered {status}")

    try:
        await asyncio.gather(*(client(c) for c in connections))
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return latencies


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    ms = [percentile(ordered, q) * 1000 for q in (50, 95, 99)]
    return f"{name:<28}{len(ordered):>8}{ms[0]:>9.2f}{ms[1]:>9.2f}{ms[2]:>9.2f}"


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


def run(
    backend: str,
    subscribers: int,
    clients: int,
    log_dir: Path,
    pool_size: int,
    concurrency: int,
    separate_worker: bool,
) -> bool:
    print(
        f"== notifications, {backend}: {subscribers:,} subscribers, {clients} list clients, "
        f"{pool_size} SMTP connections, {concurrency} concurrent deliveries, worker "
        f"{'in its own process' if separate_worker else 'inside clarion serve'} =="
    )
    with server.temporary_database(backend) as raw_url, smtp_server() as (sink, smtp_port):
        url = Settings(database_url=raw_url).database_url
        server.run_cli(raw_url, "db", "upgrade")
        decl = log_dir / "bench-page.yaml"
        decl.write_text(seed.DECLARATION)
        server.run_cli(raw_url, "apply", str(decl))
        engine = make_sync_engine(url)
        page = seed.find_page(engine)
        tokens = seed.create_keys(engine, clients + 1, datetime.now(UTC))
        seed.seed_incidents(engine, page, 1000, datetime.now(UTC), seed=1)
        engine.dispose()
        started = time.perf_counter()
        add_subscribers(raw_url, page.id, subscribers)
        print(f"  seeded {subscribers:,} subscribers ({time.perf_counter() - started:.1f}s)")
        extra = {
            "CLARION_SMTP_URL": f"smtp://{server.HOST}:{smtp_port}",
            "CLARION_SMTP_FROM": "Bench <status@bench.example>",
            "CLARION_SECRET_KEY": "bench-secret-key",
            "CLARION_SMTP_POOL_SIZE": str(pool_size),
            "CLARION_OUTBOX_CONCURRENCY": str(concurrency),
        }
        log_path = log_dir / f"bench-notifications-{backend}.log"
        with serve(raw_url, log_path, separate_worker, **extra) as (srv, processes):
            host = f"{srv.host}:{srv.port}"
            path = f"/v2/status_page_incidents?status_page_id={page.id}&page_size=25"
            listing = http_request("GET", path, host=host, token=tokens[0])
            never = threading.Event()
            asyncio.run(list_load(srv, listing, clients, never, 3))  # warm-up
            baseline = asyncio.run(list_load(srv, listing, clients, never, 15))

            done = threading.Event()

            def watch() -> None:
                while sink.count < subscribers and not done.is_set():
                    time.sleep(0.05)
                done.set()

            body = {
                "status_page_id": page.id,
                "name": "Notification benchmark",
                "incident_status": "investigating",
                "message": "Testing **notifications** at scale.",
                "notify_subscribers": True,
                "idempotency_key": str(uuid.uuid4()),
                "component_statuses": [],
            }
            cpu_before = sum(process_cpu_seconds(p.pid) for p in processes)
            fan_out_started = time.perf_counter()
            status, create_seconds = post_json(
                f"{srv.base_url}/v2/status_page_incidents", tokens[-1], body
            )
            if status != 201:
                raise RuntimeError(f"create answered {status}")
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            during = asyncio.run(list_load(srv, listing, clients, done, 120))
            done.set()
            watcher.join()
            delivered_in = (sink.last_at or time.perf_counter()) - fan_out_started
            cpu = sum(process_cpu_seconds(p.pid) for p in processes) - cpu_before

    print(f"  create with fan-out: {create_seconds * 1000:.0f} ms (one request, every row)")
    print(
        f"  accepted {sink.count:,}/{subscribers:,} messages in {delivered_in:.1f}s "
        f"({sink.count / delivered_in:.0f}/s), duplicates {sink.duplicates}"
    )
    print(
        f"  Clarion CPU during the fan-out: {cpu:.1f}s ({cpu * 1000 / subscribers:.2f} ms/message)"
    )
    print(f"  {'list incidents':<28}{'count':>8}{'p50':>9}{'p95':>9}{'p99':>9}  (ms)")
    print("  " + summary("baseline", baseline))
    print("  " + summary("during fan-out", during))
    p99 = percentile(sorted(during), 99) * 1000
    base99 = percentile(sorted(baseline), 99) * 1000
    print(f"  p99 during / baseline: {p99 / base99:.2f}x")
    ok = (
        sink.count == subscribers
        and sink.duplicates == 0
        and delivered_in <= DELIVERY_TARGET_SECONDS
        and p99 <= LIST_P99_TARGET_MS
    )
    print(
        f"  targets: all within {DELIVERY_TARGET_SECONDS:.0f}s, no duplicates, list p99 <= "
        f"{LIST_P99_TARGET_MS:.0f} ms: {'met' if ok else 'NOT met'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--pool-size", type=int, default=Settings.model_fields["smtp_pool_size"].default
    )
    parser.add_argument(
        "--concurrency", type=int, default=Settings.model_fields["outbox_concurrency"].default
    )
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="serve with --no-worker plus one `clarion worker` process",
    )
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}")
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        results = [
            run(
                b,
                args.subscribers,
                args.clients,
                Path(tmp),
                args.pool_size,
                args.concurrency,
                args.separate_worker,
            )
            for b in backends
        ]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
