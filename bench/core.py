"""The core API benchmark (issue 2's figures).

For each backend, in one run:

1. A fresh database; ``clarion db upgrade`` and ``clarion apply`` (a page with 6 components);
   one API key per client; 1,000 incidents seeded. Incidents the run creates go to a second
   page, so the listed page holds only seeded ones.
2. ``clarion serve`` starts; after a warm-up the load driver measures ``GET /healthz`` (the
   baseline) and list-incidents (``page_size=25``) with 1,000 incidents stored.
3. Seeding continues to 10,000: baseline, list (first page and a page deep in the history) and
   create-incident are measured.
4. Seeding continues to 100,000: baseline and list again, to show that list latency does not
   grow with the number of stored incidents.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from bench import client, seed, server
from clarion.db.engine import make_sync_engine
from clarion.incidents.models import Incident
from clarion.settings import Settings

LIST_P99_TARGET_MS = 25.0
CREATE_P99_TARGET_MS = 50.0


@dataclass
class Options:
    backends: list[str]
    clients: int = 32
    requests: int = 3_200
    time_cap: float = 60.0
    sizes: tuple[int, int, int] = (1_000, 10_000, 100_000)
    log_dir: Path = Path(".")
    #: open loop: total offered rates (requests/s), seconds per rate, and the fixed rate of the
    #: 1,000 vs 100,000 comparison
    rates: tuple[float, ...] = (25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 400.0)
    open_seconds: float = 8.0
    compare_rate: float = 50.0
    open_loop: bool = True
    closed_loop: bool = True
    #: ``clarion serve --workers``
    workers: int = 1


@dataclass
class BackendRun:
    backend: str
    results: dict[str, client.Result] = field(default_factory=dict)
    #: open-loop results, keyed ``"<scenario> @<stored> r=<rate>"``
    open_results: dict[str, client.Result] = field(default_factory=dict)
    seed_seconds: dict[int, float] = field(default_factory=dict)


class Scenarios:
    """The requests each scenario sends."""

    def __init__(
        self, host: str, page_id: str, write_page_id: str, tokens: list[str], components: list[str]
    ) -> None:
        self.host = host
        self.page_id = page_id
        self.write_page_id = write_page_id
        self.tokens = tokens
        self.components = components
        self.run_tag = uuid.uuid4().hex[:8]

    def healthz(self, _index: int, _seq: int) -> bytes:
        return client.http_request("GET", "/healthz", host=self.host)

    def list_page(self, after: str | None = None) -> Callable[[int, int], bytes]:
        path = f"/v2/status_page_incidents?status_page_id={self.page_id}&page_size=25"
        if after:
            path += f"&after={after}"
        raws = [
            client.http_request("GET", path, host=self.host, token=token) for token in self.tokens
        ]
        return lambda index, _seq: raws[index]

    def create(self, phase: str) -> Callable[[int, int], bytes]:
        def make(index: int, seq: int) -> bytes:
            component = self.components[(index + seq) % len(self.components)]
            body = {
                "status_page_id": self.write_page_id,
                "name": f"Elevated latency on component {component[-6:]}",
                "incident_status": "investigating",
                "message": "We are investigating reports of elevated latency.",
                "notify_subscribers": True,
                "idempotency_key": f"bench-{self.run_tag}-{phase}-{index}-{seq}",
                "component_statuses": [
                    {"component_id": component, "component_status": "degraded_performance"}
                ],
            }
            return client.http_request(
                "POST",
                "/v2/status_page_incidents",
                host=self.host,
                token=self.tokens[index],
                body=orjson.dumps(body),
            )

        return make


def _check_list_body(result: client.Result, stored: int) -> None:
    """The list really returned a full page of incidents (not an error, not an empty page)."""
    body: Any = orjson.loads(result.first_body) if result.first_body else {}
    incidents = body.get("status_page_incidents", [])
    if len(incidents) != min(25, stored) or not incidents[0].get("updates"):
        raise RuntimeError(f"{result.name}: unexpected list body {result.first_body[:300]!r}")


def _deep_cursor(url: str, page_id: str, offset: int) -> str:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(Incident.id)
                .where(Incident.status_page_id == page_id)
                .order_by(Incident.published_at.desc(), Incident.id.desc())
                .offset(offset)
                .limit(1)
            ).scalar_one()
    finally:
        engine.dispose()
    return str(found)


async def _measure(
    name: str,
    srv: server.Server,
    make: Callable[[int, int], bytes],
    opts: Options,
    *,
    expect: tuple[int, ...] = (200,),
    requests: int | None = None,
) -> client.Result:
    result = await client.drive(
        name,
        srv.host,
        srv.port,
        make,
        clients=opts.clients,
        total_requests=requests or opts.requests,
        time_cap=opts.time_cap,
        server_pid=srv.pid,
        expect=expect,
    )
    print(f"    {summary_line(result)}", flush=True)
    return result


async def _measure_open(
    name: str,
    srv: server.Server,
    make: Callable[[int, int], bytes],
    opts: Options,
    rate: float,
    *,
    expect: tuple[int, ...] = (200,),
) -> client.Result:
    result = await client.drive_open(
        name,
        srv.host,
        srv.port,
        make,
        clients=opts.clients,
        rate=rate,
        duration=opts.open_seconds,
        # enough to drain a moderately overloaded schedule, bounded so saturation stays short
        time_cap=opts.open_seconds + 6.0,
        server_pid=srv.pid,
        expect=expect,
    )
    print(f"    {open_summary_line(result)}", flush=True)
    return result


def open_key(scenario: str, stored: int, rate: float) -> str:
    return f"{scenario} @{stored} r={rate:g}"


def run_backend(backend: str, opts: Options, runner: asyncio.Runner) -> BackendRun:
    import time

    run = BackendRun(backend)
    small, middle, large = opts.sizes
    now = datetime.now(UTC)
    print(f"\n== {backend} ==", flush=True)
    with server.temporary_database(backend) as raw_url:
        url = Settings(database_url=raw_url).database_url
        server.run_cli(raw_url, "db", "upgrade")
        decl = opts.log_dir / "bench-page.yaml"
        decl.write_text(seed.DECLARATION)
        server.run_cli(raw_url, "apply", str(decl))
        engine = make_sync_engine(url)
        page = seed.find_page(engine)
        write_page = seed.find_page(engine, "bench-writes")
        tokens = seed.create_keys(engine, opts.clients, now)

        def grow_to(total: int, have: int) -> None:
            started = time.perf_counter()
            seed.seed_incidents(engine, page, total - have, now, seed=total)
            run.seed_seconds[total] = time.perf_counter() - started
            print(f"  seeded {total:,} incidents ({run.seed_seconds[total]:.1f}s)", flush=True)

        grow_to(small, 0)
        log_path = opts.log_dir / f"bench-serve-{backend}.log"
        with server.serve(raw_url, log_path, workers=opts.workers) as srv:
            sc = Scenarios(
                f"{srv.host}:{srv.port}", page.id, write_page.id, tokens, page.component_ids
            )
            listing = sc.list_page()

            def measure(name: str, make: Callable[[int, int], bytes], **kw: Any) -> None:
                if opts.closed_loop or name.startswith("warmup"):
                    run.results[name] = runner.run(_measure(name, srv, make, opts, **kw))

            def measure_open(
                scenario: str,
                stored: int,
                rate: float,
                make: Callable[[int, int], bytes],
                **kw: Any,
            ) -> None:
                if not opts.open_loop:
                    return
                name = open_key(scenario, stored, rate)
                run.open_results[name] = runner.run(
                    _measure_open(name, srv, make, opts, rate, **kw)
                )

            print("  warm-up", flush=True)
            measure("warmup healthz", sc.healthz, requests=500)
            measure("warmup list", listing, requests=500)
            measure("warmup create", sc.create("warmup"), expect=(201,), requests=200)

            print(f"  {small:,} incidents stored", flush=True)
            measure(f"healthz @{small}", sc.healthz)
            measure(f"list @{small}", listing)
            measure_open("list", small, opts.compare_rate, listing)
            for r in (*run.results.values(), *run.open_results.values()):
                if r.name.startswith("list"):
                    _check_list_body(r, small)

            grow_to(middle, small)
            print(f"  {middle:,} incidents stored", flush=True)
            measure(f"healthz @{middle}", sc.healthz)
            measure(f"list @{middle}", listing)
            deep = sc.list_page(after=_deep_cursor(url, page.id, middle // 2))
            measure(f"list deep page @{middle}", deep)
            measure(f"create @{middle}", sc.create("main"), expect=(201,))
            for rate in opts.rates:
                measure_open("list", middle, rate, listing)
            for rate in opts.rates:
                measure_open("create", middle, rate, sc.create(f"open{rate:g}"), expect=(201,))
            for name in (f"list @{middle}", f"list deep page @{middle}"):
                if name in run.results:
                    _check_list_body(run.results[name], middle)

            grow_to(large, middle)
            print(f"  {large:,} incidents stored", flush=True)
            measure(f"healthz @{large}", sc.healthz)
            measure(f"list @{large}", listing)
            measure_open("list", large, opts.compare_rate, listing)
            for r in (
                run.results.get(f"list @{large}"),
                run.open_results.get(open_key("list", large, opts.compare_rate)),
            ):
                if r is not None:
                    _check_list_body(r, large)
        engine.dispose()
    return run


def summary_line(r: client.Result) -> str:
    errors = sum(r.errors.values())
    extra = f" errors={dict(r.errors)}" if errors else ""
    extra += " (time cap hit)" if r.capped else ""
    return (
        f"{r.name:<24} n={r.count:<5} p50={r.ms(50):7.2f} p95={r.ms(95):7.2f} "
        f"p99={r.ms(99):7.2f} max={r.ms(100):7.2f} ms  {r.throughput:7.1f} req/s  "
        f"server {r.server_cpu_ms_per_request:5.2f} ms CPU/req "
        f"({100 * r.server_cpu / r.wall if r.wall else 0:3.0f}% of a core)  "
        f"client {100 * r.client_cpu / r.wall if r.wall else 0:3.0f}%{extra}"
    )


def open_summary_line(r: client.Result) -> str:
    errors = sum(r.errors.values())
    extra = f" errors={dict(r.errors)}" if errors else ""
    extra += f" (time cap hit, {r.unsent} never sent)" if r.capped else ""
    return (
        f"{r.name:<24} n={r.count:<5} p50={r.ms(50):7.2f} p95={r.ms(95):7.2f} "
        f"p99={r.ms(99):7.2f} max={r.ms(100):7.2f} ms  offered {r.offered_rate:5.0f} "
        f"achieved {r.throughput:6.1f} req/s  server {r.server_cpu_ms_per_request:5.2f} ms CPU/req "
        f"({100 * r.server_cpu / r.wall if r.wall else 0:3.0f}% of a core){extra}"
    )
