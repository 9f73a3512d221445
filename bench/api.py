"""The API benchmark: ``uv run python -m bench.api`` (or ``make bench-api``).

For each backend, in one run, against one ``clarion serve`` process on loopback:

1. A fresh database with the pages of ``seed.DECLARATION`` (``bench``, which is read, and
   ``bench-writes``, which receives the incidents the run creates, so that ``bench`` keeps the
   number of incidents stated), one API key per client, and 1,000 incidents on ``bench``.
2. **Uncached list** at 1,000 stored: one client; before each timed list (25 incidents) the
   newest incident is renamed through the API, untimed, so that every timed list misses the
   list cache and reads the database.
3. Seeding to 10,000 stored, the uncached list again, then **the mix**, open loop: requests leave
   on a fixed schedule at an offered rate, 90 % reads (list, show incident, show status page,
   page structure) and 10 % writes (create incident, publish an update to one of the page's
   open incidents, which moves its content version, so reads of ``bench`` miss their caches now
   and then as they would on a live page). Latency runs from the scheduled send time. The rates
   of the sweep run in ascending order; above the headline rate the sweep stops at the first
   rate that misses a target. Then, closed loop (throughput, no target): ``/healthz`` (the
   baseline), list, create and the mix, each with every client sending as fast as it is
   answered.
4. Seeding to 100,000 stored, and the uncached list once more: its latency against the one at
   1,000 stored.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvloop
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bench import client, report, seed, server
from bench.client import Request
from bench.report import Figure, Target
from clarion.incidents.models import Incident

LIST_P99 = Target(25.0)
CREATE_P99 = Target(50.0)
GROWTH = Target(1.2)
HEADLINE_RATE = 200.0

#: The mix, in the order requests are due (it repeats): 30 % list, 30 % show incident, 15 % show
#: status page, 15 % structure, 5 % create, 5 % update.
MIX = (
    "list", "show", "page", "structure", "list", "show", "create", "list", "show", "page",
    "list", "show", "structure", "list", "show", "update", "list", "show", "page", "structure",
)  # fmt: skip
CREATED = 201


@dataclass
class Options:
    clients: int = 32
    sizes: tuple[int, int, int] = (1_000, 10_000, 100_000)
    rates: tuple[float, ...] = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 800.0)
    seconds: float = 20.0
    uncached: int = 300
    requests: int = 4_000
    workers: int = 1
    log_dir: Path = Path(".")


@dataclass
class BackendRun:
    backend: str
    #: the uncached list per number of stored incidents
    uncached: dict[int, client.Result] = field(default_factory=dict)
    #: the open-loop mix per offered rate, in the order run
    mix: dict[float, client.Result] = field(default_factory=dict)
    closed: dict[str, client.Result] = field(default_factory=dict)


class Scenarios:
    """The requests of every scenario, for one server."""

    def __init__(
        self,
        host: str,
        page: seed.Page,
        write_page_id: str,
        tokens: list[str],
        incidents: list[str],
        open_incidents: list[str],
    ) -> None:
        self.host = host
        self.page = page
        self.write_page_id = write_page_id
        self.tokens = tokens
        self.incidents = incidents
        self.open_incidents = open_incidents
        self.run_tag = uuid.uuid4().hex[:8]
        self.reads = {
            kind: [self.get(path, token) for token in tokens]
            for kind, path in (
                ("list", f"/v2/status_page_incidents?status_page_id={page.id}&page_size=25"),
                ("page", f"/v2/status_pages/{page.id}"),
                ("structure", f"/v2/status_page_structures/{page.id}"),
            )
        }

    def get(self, path: str, token: str | None) -> bytes:
        return client.http_request("GET", path, host=self.host, token=token)

    def post(self, path: str, token: str, body: dict[str, Any]) -> bytes:
        return client.http_request(
            "POST", path, host=self.host, token=token, body=orjson.dumps(body)
        )

    def healthz(self, _index: int, _seq: int) -> Request:
        return Request(self.get("/healthz", None), "healthz")

    def listing(self, index: int, _seq: int) -> Request:
        return Request(self.reads["list"][index], "list")

    def request(self, kind: str, index: int, n: int, phase: str) -> Request:
        """The ``n``-th request of ``kind`` (``MIX``) from client ``index``."""
        token = self.tokens[index]
        if kind in self.reads:
            return Request(self.reads[kind][index], kind)
        if kind == "show":
            incident = self.incidents[n % len(self.incidents)]
            return Request(self.get(f"/v2/status_page_incidents/{incident}", token), kind)
        if kind == "create":
            component = self.page.component_ids[n % len(self.page.component_ids)]
            body = {
                "status_page_id": self.write_page_id,
                "name": f"Elevated latency on component {component[-6:]}",
                "incident_status": "investigating",
                "message": "We are investigating reports of elevated latency.",
                "notify_subscribers": True,
                "idempotency_key": f"bench-{self.run_tag}-{phase}-{n}",
                "component_statuses": [
                    {"component_id": component, "component_status": "degraded_performance"}
                ],
            }
            return Request(self.post("/v2/status_page_incidents", token, body), kind, (CREATED,))
        body = {
            "status_page_incident_id": self.open_incidents[n % len(self.open_incidents)],
            "message": "We are still looking into this.",
            "notify_subscribers": True,
        }
        return Request(self.post("/v2/status_page_incident_updates", token, body), kind, (CREATED,))

    def only(self, kind: str, phase: str, clients: int) -> client.RequestMaker:
        return lambda index, seq: self.request(kind, index, index + seq * clients, phase)

    def mix(self, phase: str, clients: int) -> client.RequestMaker:
        """The mix: the ``n``-th request due (``n = index + seq * clients``, see
        ``client.drive_open``) is of kind ``MIX[n % len(MIX)]``."""

        def make(index: int, seq: int) -> Request:
            n = index + seq * clients
            return self.request(MIX[n % len(MIX)], index, n, phase)

        return make


def incident_ids(engine: Engine, page_id: str, *, open_only: bool) -> list[str]:
    """Ids of the page's incidents (only the unresolved ones when ``open_only``), in a fixed
    pseudo-random order."""
    query = select(Incident.id).where(Incident.status_page_id == page_id)
    if open_only:
        query = query.where(Incident.incident_status != "resolved")
    with engine.connect() as conn:
        found = sorted(conn.execute(query).scalars(), key=lambda i: i[::-1])
    return found


def check_list_body(result: client.Result, stored: int) -> None:
    """The list really returned a full page of incidents (not an error, not an empty page)."""
    body: Any = orjson.loads(result.of("list").first_body or b"{}")
    incidents = body.get("status_page_incidents", [])
    if len(incidents) != min(25, stored) or not incidents[0].get("updates"):
        raise RuntimeError(f"{result.name}: unexpected list body {body!r:.300}")


def held(result: client.Result) -> bool:
    return (
        LIST_P99.holds(result.of("list").ms(99))
        and CREATE_P99.holds(result.of("create").ms(99))
        and not result.errors
        and not result.capped
    )


def highest_rate_held(run: BackendRun) -> float | None:
    """The highest offered rate at which both targets held."""
    return max((rate for rate, found in run.mix.items() if held(found)), default=None)


class ServerRun:
    """The scenarios of one backend against one server, and what they measured."""

    def __init__(
        self,
        srv: server.Server,
        engine: Engine,
        pages: tuple[seed.Page, seed.Page],
        tokens: list[str],
        opts: Options,
        runner: asyncio.Runner,
    ) -> None:
        self.srv, self.engine, self.tokens, self.opts, self.runner = (
            srv, engine, tokens, opts, runner
        )  # fmt: skip
        self.page, self.write_page = pages
        self.host = f"{srv.host}:{srv.port}"
        self.scenarios = self.scenarios_now()

    def scenarios_now(self) -> Scenarios:
        """The scenarios over the incidents stored now."""
        return Scenarios(
            self.host,
            self.page,
            self.write_page.id,
            self.tokens,
            incident_ids(self.engine, self.page.id, open_only=False),
            incident_ids(self.engine, self.page.id, open_only=True),
        )

    def report(self, found: client.Result) -> client.Result:
        print(f"    {found.describe()}", flush=True)
        if len(found.kinds) > 1:
            print(f"      {kinds_line(found)}", flush=True)
        return found

    def closed(self, name: str, make: client.RequestMaker, requests: int) -> client.Result:
        clients = self.opts.clients
        load = client.drive(
            name, self.srv, make, clients=clients, total_requests=requests, time_cap=60
        )
        return self.report(self.runner.run(load))

    def open(self, name: str, make: client.RequestMaker, rate: float) -> client.Result:
        seconds = self.opts.seconds
        load = client.drive_open(
            name,
            self.srv,
            make,
            clients=self.opts.clients,
            rate=rate,
            duration=seconds,
            time_cap=seconds + 10,
        )
        return self.report(self.runner.run(load))

    def uncached(self, stored: int) -> client.Result:
        newest = seed.latest_incident(self.engine, self.page.id)
        load = client.drive_after_writes(
            f"uncached list @{stored:,}",
            self.srv,
            self.scenarios.listing(0, 0),
            lambda n: client.rename_incident(self.host, self.tokens[0], newest, n),
            count=self.opts.uncached,
        )
        found = self.runner.run(load)
        check_list_body(found, stored)
        return self.report(found)


def run_backend(backend: str, opts: Options, runner: asyncio.Runner) -> BackendRun:
    run = BackendRun(backend)
    small, middle, large = opts.sizes
    clients = opts.clients
    now = datetime.now(UTC)
    print(f"\n== API, {backend} ==", flush=True)
    with seed.declared_database(backend, opts.log_dir) as (raw_url, engine):
        page = seed.find_page(engine)
        pages = (page, seed.find_page(engine, "bench-writes"))
        tokens = seed.create_keys(engine, clients, now)

        def grow_to(total: int, have: int) -> None:
            started = time.perf_counter()
            seed.seed_incidents(engine, page, total - have, now, seed=total)
            print(f"  {total:,} incidents stored (seeded in {time.perf_counter() - started:.1f} s)")

        grow_to(small, 0)
        log = opts.log_dir / f"serve-api-{backend}.log"
        with server.serve(raw_url, log, workers=opts.workers) as srv:
            sr = ServerRun(srv, engine, pages, tokens, opts, runner)
            sr.closed("warm-up", sr.scenarios.mix("warm-up", clients), 1_000)
            run.uncached[small] = sr.uncached(small)
            grow_to(middle, small)
            sr.scenarios = sc = sr.scenarios_now()
            run.uncached[middle] = sr.uncached(middle)
            for rate in sorted(opts.rates):
                found = sr.open(
                    f"mix @{middle:,} at {rate:g} req/s", sc.mix(f"r{rate:g}", clients), rate
                )
                check_list_body(found, middle)
                run.mix[rate] = found
                if rate >= HEADLINE_RATE and not held(found):
                    break
            for name, make in (
                ("healthz", sc.healthz),
                ("list", sc.only("list", "closed", clients)),
                ("create", sc.only("create", "closed", clients)),
                ("mix", sc.mix("closed", clients)),
            ):
                run.closed[name] = sr.closed(f"closed {name} @{middle:,}", make, opts.requests)
            grow_to(large, middle)
            sr.scenarios = sr.scenarios_now()
            run.uncached[large] = sr.uncached(large)
    return run


def kinds_line(result: client.Result) -> str:
    return "  ".join(
        f"{kind} p50 {found.ms(50):.1f} p99 {found.ms(99):.1f}"
        + (f" errors {found.errors}" if found.errors else "")
        for kind, found in sorted(result.kinds.items())
    )


def figures(runs: list[BackendRun], opts: Options) -> list[Figure]:
    """The figures of every backend, each against its target."""
    small, middle, large = opts.sizes
    found: list[Figure] = []
    where = f"mix at {HEADLINE_RATE:g} req/s, {middle:,} stored"
    for run in runs:
        b = run.backend
        at = run.mix.get(HEADLINE_RATE, client.Result("not run"))
        trusted = at.count > 0 and not at.errors and not at.capped
        found += [
            Figure(f"list p99, {where}", b, at.of("list").ms(99), "ms", LIST_P99, trusted),
            Figure(f"create p99, {where}", b, at.of("create").ms(99), "ms", CREATE_P99, trusted),
        ]
        found += [
            Figure(f"{kind} p99, {where}", b, at.of(kind).ms(99), "ms")
            for kind in ("show", "page", "structure", "update")
        ]
        best = highest_rate_held(run)
        note = "the highest offered" if run.mix and best == max(run.mix) else ""
        found.append(Figure("highest mix rate holding both", b, best or 0.0, "req/s", note=note))
        for name, r in run.closed.items():
            cpu = f"{r.server_cpu_ms_per_request:.2f} ms server CPU per request"
            found.append(
                Figure(
                    f"closed loop, {opts.clients} clients: {name}",
                    b,
                    r.throughput,
                    "req/s",
                    ok=not r.errors,
                    note=cpu,
                )
            )
        a, z = run.uncached[small].of("list"), run.uncached[large].of("list")
        for q in (50, 99):
            found.append(
                Figure(
                    f"uncached list p{q}, {large:,} / {small:,} stored",
                    b,
                    z.ms(q) / a.ms(q),
                    "x",
                    GROWTH,
                    not a.errors and not z.errors,
                    f"{a.ms(q):.2f} -> {z.ms(q):.2f} ms",
                )
            )
    return found


def run(backends: list[str], log_dir: Path, opts: Options | None = None) -> list[Figure]:
    """Every backend in turn; the figures."""
    opts = opts or Options()
    opts.log_dir = log_dir
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runs = [run_backend(backend, opts, runner) for backend in backends]
    return figures(runs, opts)


def main(argv: list[str] | None = None) -> int:
    cli = report.parser("python -m bench.api", __doc__)
    defaults = Options()
    cli.add_argument("--clients", type=int, default=defaults.clients, help="connections")
    cli.add_argument(
        "--sizes",
        default=",".join(str(n) for n in defaults.sizes),
        help="stored incidents: small, headline and large",
    )
    cli.add_argument(
        "--rates",
        default=",".join(f"{r:g}" for r in defaults.rates),
        help="the sweep's offered rates, requests/s",
    )
    cli.add_argument("--seconds", type=float, default=defaults.seconds, help="per offered rate")
    cli.add_argument("--uncached", type=int, default=defaults.uncached, help="lists per size")
    cli.add_argument(
        "--requests", type=int, default=defaults.requests, help="per closed-loop scenario"
    )
    cli.add_argument("--workers", type=int, default=defaults.workers, help="of clarion serve")
    args = cli.parse_args(argv)
    sizes = tuple(int(x) for x in args.sizes.split(","))
    if len(sizes) != 3 or not sizes[0] < sizes[1] < sizes[2]:
        cli.error("--sizes needs three increasing numbers")
    opts = Options(
        clients=args.clients,
        sizes=(sizes[0], sizes[1], sizes[2]),
        rates=tuple(float(x) for x in args.rates.split(",")),
        seconds=args.seconds,
        uncached=args.uncached,
        requests=args.requests,
        workers=args.workers,
    )
    return report.run_and_report(lambda b, folder: run(b, folder, opts), args.backend)


if __name__ == "__main__":
    sys.exit(main())
