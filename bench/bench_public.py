"""The public page benchmark (issue 4, "Speed"): ``uv run python -m bench.bench_public``.

In one run, on loopback, with bounded load:

1. A fresh database with three pages of 20 components each (4 on their own, 4 groups of 4):
   ``month`` with one month of history, ``quarter`` with the 90 days the uptime bars show, and
   ``years`` with two years and 2,000 incidents (the same density, so only the length of the
   history differs), plus maintenance windows.
2. ``clarion serve`` in a subprocess. **Uncached render**: before each request an incident of
   the page is renamed through the API (untimed), so every timed request misses the render
   cache and renders from the database; one client, sequential. p99 of the page (HTML), and
   for information of ``summary.json`` and ``feed.atom``, for both pages.
3. **Cached throughput**: ``wrk`` with 64 connections against the page served by Clarion
   from its render cache, and against nginx (Debian's, one worker like Clarion's one process)
   serving the exported copy of the same page (``clarion export``), measured in the same run.
   Also, for comparison, uvicorn's ordinary ASGI path: uvicorn run as ``clarion serve`` runs
   it, with an app that only sends the page's captured bytes and headers (``CeilingApp``).
   That was the ceiling of a Python process while Clarion answered through ASGI; Clarion now
   writes hot bytes from the HTTP parser's callback (``clarion.http.instant``) and passes it.

Targets: cached throughput at least half of nginx's; uncached p99 under 50 ms; the two-year
page's p99 no more than 1.5x the one-month page's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bench import server
from bench.client import Connection, http_request, percentile
from bench.seed import create_keys
from clarion.components.models import Component, ComponentStatusChange
from clarion.db.engine import make_sync_engine
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage

UNCACHED_P99_TARGET_MS = 50.0
THROUGHPUT_RATIO_TARGET = 0.5
GROWTH_LIMIT = 1.5
IMPACTS = ("degraded_performance", "partial_outage", "full_outage")
#: ``quarter`` fills exactly the 90-day window of uptime bars: it shows how much of the one-month
#: vs two-year difference is the window filling up, and how much is the history's length.
PAGES = {
    "month": timedelta(days=30),
    "quarter": timedelta(days=91),
    "years": timedelta(days=730),
}
YEARS_INCIDENTS = 2_000
#: Cached runs: as curl and most bots ask, and as browsers ask (nginx then uses gzip_static).
ENCODINGS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "gzip": ("Accept-Encoding: gzip, deflate, br",),
}


def declaration() -> str:
    """20 components; both pages show all of them (4 alone, then 4 groups of 4)."""
    lines = ["components:"]
    lines += [f"  - {{key: c{i:02d}, name: Component {i:02d}}}" for i in range(20)]
    lines.append("status_pages:")
    for slug in PAGES:
        lines += [f"  - slug: {slug}", f"    name: Benchmark {slug}", "    items:"]
        lines += [f"      - component: c{i:02d}" for i in range(4)]
        for g in range(4):
            members = ", ".join(f"c{4 + 4 * g + k:02d}" for k in range(4))
            lines += [
                "      - group:",
                f"          name: Region {g}",
                f"          components: [{members}]",
            ]
    return "\n".join(lines) + "\n"


@dataclass
class Seeded:
    page_ids: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    maintenances: dict[str, int] = field(default_factory=dict)


def _change(
    page_id: str, component: str, cause: dict[str, str | None], status: str, at: datetime, seq: int
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "status_page_id": page_id,
        "component_id": component,
        "incident_id": cause.get("incident"),
        "maintenance_id": cause.get("maintenance"),
        "status": status,
        "occurred_at": at,
        "seq": seq,
    }


def seed(engine: Engine, now: datetime, rng: random.Random) -> Seeded:
    """Incidents at the density of 2,000 per two years, and a maintenance window every two
    weeks (completed) plus one upcoming, on each page; the newest incident is still open."""
    done = Seeded()
    with engine.connect() as conn:
        components = list(conn.execute(select(Component.id).order_by(Component.key)).scalars())
        for slug in PAGES:
            done.page_ids[slug] = conn.execute(
                select(StatusPage.id).where(StatusPage.slug == slug)
            ).scalar_one()
    for slug, span in PAGES.items():
        page_id = done.page_ids[slug]
        count = round(YEARS_INCIDENTS * span / PAGES["years"])
        incidents, updates, changes = [], [], []
        starts = sorted(now - span * rng.random() for _ in range(count))
        for n, published in enumerate(starts):
            incident_id = new_id()
            ongoing = n == count - 1
            affected = rng.sample(components, rng.randint(1, 3))
            impact = rng.choice(IMPACTS)
            cause: dict[str, str | None] = {"incident": incident_id}
            at = published
            statuses = ["investigating", "identified", "resolved"][: rng.randint(2, 3)]
            if ongoing:
                statuses = ["investigating"]
            elif statuses[-1] != "resolved":
                statuses.append("resolved")
            for k, status in enumerate(statuses):
                component_statuses = []
                if k == 0:
                    component_statuses = [
                        {"component_id": c, "component_status": impact} for c in affected
                    ]
                    changes += [
                        _change(page_id, c, cause, impact, at, i + 1)
                        for i, c in enumerate(affected)
                    ]
                if status == "resolved":
                    changes += [
                        _change(page_id, c, cause, "operational", at, i + 1)
                        for i, c in enumerate(affected)
                    ]
                updates.append(
                    {
                        "id": new_id(),
                        "incident_id": incident_id,
                        "message": f"**{status.title()}** ({n}.{k}): error rates on the API. "
                        "See [the runbook](https://example.com/runbook).",
                        "incident_status": status,
                        "component_statuses": component_statuses,
                        "notify_subscribers": False,
                        "published_at": at,
                    }
                )
                last = at
                at = min(at + timedelta(minutes=rng.randint(5, 90)), now)
            incidents.append(
                {
                    "id": incident_id,
                    "status_page_id": page_id,
                    "name": f"Elevated error rates ({n})",
                    "incident_status": statuses[-1],
                    "published_at": published,
                    "resolved_at": None if ongoing else last,
                    "retrospective": False,
                    "update_count": len(statuses),
                    "created_at": published,
                    "updated_at": last,
                }
            )
        windows, links, window_updates = [], [], []
        starts = [now - timedelta(days=14 * k) for k in range(1, int(span.days / 14) + 1)]
        for k, start in enumerate([now + timedelta(days=3), *starts]):
            window_id = new_id()
            complete = start < now
            end = start + timedelta(hours=2)
            affected = rng.sample(components, 2)
            windows.append(
                {
                    "id": window_id,
                    "status_page_id": page_id,
                    "name": f"Database upgrade {k}",
                    "maintenance_status": "maintenance_complete"
                    if complete
                    else "maintenance_scheduled",
                    "start_at": start,
                    "end_at": end,
                    "automate": False,
                    "notify_subscribers": False,
                    "started_at": start if complete else None,
                    "completed_at": end if complete else None,
                    "published_at": start - timedelta(days=2),
                    "update_count": 1,
                    "created_at": start - timedelta(days=2),
                    "updated_at": end if complete else start - timedelta(days=2),
                }
            )
            links += [
                {"maintenance_id": window_id, "component_id": c, "position": i}
                for i, c in enumerate(affected)
            ]
            window_updates.append(
                {
                    "id": new_id(),
                    "maintenance_id": window_id,
                    "message": f"We will upgrade the database ({k}).",
                    "maintenance_status": "maintenance_scheduled",
                    "component_statuses": [],
                    "notify_subscribers": False,
                    "automated": False,
                    "published_at": start - timedelta(days=2),
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(Incident.__table__), incidents)
            conn.execute(insert(IncidentUpdate.__table__), updates)
            conn.execute(insert(ComponentStatusChange.__table__), changes)
            conn.execute(insert(Maintenance.__table__), windows)
            conn.execute(insert(MaintenanceComponent.__table__), links)
            conn.execute(insert(MaintenanceUpdate.__table__), window_updates)
        done.incidents[slug] = count
        done.maintenances[slug] = len(windows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return done


def seeded_database(raw_url: str, folder: Path, now: datetime) -> tuple[Engine, Seeded]:
    """The fresh database at ``raw_url`` migrated, with the pages declared (the declaration is
    written in ``folder``) and seeded as of ``now``; an engine on it."""
    server.run_cli(raw_url, "db", "upgrade")
    (folder / "pages.yaml").write_text(declaration())
    server.run_cli(raw_url, "apply", str(folder / "pages.yaml"))
    engine = make_sync_engine(Settings(database_url=raw_url).database_url)
    return engine, seed(engine, now, random.Random(4))


# ---------------------------------------------------------------------------------------------
# Uncached renders


@dataclass
class Latencies:
    name: str
    samples: list[float] = field(default_factory=list)
    errors: int = 0
    size: int = 0

    def ms(self, q: float) -> float:
        return percentile(sorted(self.samples), q) * 1000


async def uncached(
    srv: server.Server, writer: Writer, path: str, name: str, count: int
) -> Latencies:
    """``count`` sequential requests, each after a write through the API that changes what the
    page shows (renaming its latest incident): every timed request misses the render cache.
    The write is not timed."""
    found = Latencies(name)
    conn = Connection(srv.host, srv.port)
    raw = http_request("GET", path, host=f"{srv.host}:{srv.port}")
    try:
        for _ in range(count):
            status, body = await _send(conn, writer.rename())
            if status != 200:
                raise RuntimeError(f"rename failed: {status} {body[:200]!r}")
            started = time.perf_counter()
            status, body = await conn.send(raw)
            found.samples.append(time.perf_counter() - started)
            found.size = len(body)
            if status != 200:
                found.errors += 1
    finally:
        with contextlib.suppress(OSError):
            await conn.close()
    return found


async def _send(conn: Connection, raw: bytes) -> tuple[int, bytes]:
    """Send on the keep-alive connection, reconnecting once if the server closed it idle."""
    try:
        return await conn.send(raw)
    except (ConnectionError, OSError):
        with contextlib.suppress(OSError):
            await conn.close()
        await conn.open()
        return await conn.send(raw)


@dataclass
class Writer:
    """Renames one incident back and forth through the API (a write that bumps the page)."""

    host: str
    token: str
    incident_id: str
    count: int = 0

    def rename(self) -> bytes:
        self.count += 1
        body = f'{{"name": "Elevated error rates (renamed {self.count})"}}'.encode()
        return http_request(
            "PUT",
            f"/v2/status_page_incidents/{self.incident_id}",
            host=self.host,
            token=self.token,
            body=body,
        )


def latest_incident(engine: Engine, page_id: str) -> str:
    with engine.connect() as conn:
        found: str = conn.execute(
            select(Incident.id)
            .where(Incident.status_page_id == page_id)
            .order_by(Incident.published_at.desc())
            .limit(1)
        ).scalar_one()
    return found


# ---------------------------------------------------------------------------------------------
# Cached throughput: wrk against Clarion and against nginx serving the export


@dataclass
class WrkResult:
    name: str
    requests_per_second: float
    p99_ms: float
    non_2xx: int
    raw: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    name: str, url: str, connections: int, seconds: int, headers: tuple[str, ...] = ()
) -> WrkResult:
    """One bounded ``wrk`` run (one thread: the machine's cores are shared with the server)."""
    extra = [arg for header in headers for arg in ("-H", header)]
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(
        name,
        rps,
        float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
        int(non_2xx.group(1)) if non_2xx else 0,
        out,
    )


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    gzip_static on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{
        text/html html; text/css css; text/javascript js; application/json json;
        application/atom+xml atom; application/rss+xml rss; text/calendar ics;
        image/svg+xml svg;
    }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        root {root};
        index index.html;
        location / {{ try_files $uri $uri/index.html $uri.html =404; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(root: Path, tmp: Path) -> Iterator[int]:
    """Debian's nginx on a free loopback port serving ``root`` until the block ends."""
    executable = shutil.which("nginx") or "/usr/sbin/nginx"
    port = server.free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, host=server.HOST, port=port, root=root))
    process = subprocess.Popen(
        [executable, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("nginx exited: " + (tmp / "error.log").read_text()[-500:])
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection((server.HOST, port), timeout=1):
                    break
            time.sleep(0.1)
        yield port
    finally:
        server.stop(process, 10)


def export_site(raw_url: str, srv: server.Server, slug: str, out: Path) -> tuple[Path, str]:
    """The static copy nginx serves, and the URL path of the page in it.

    ``clarion export DIR`` when it exists; otherwise (reported) the cached page bytes fetched
    from Clarion written as ``DIR/<slug>/index.html``.
    """
    try:
        server.run_cli(raw_url, "export", str(out), "--page", slug)
    except RuntimeError as exc:
        print(f"  clarion export unavailable ({exc}); mirroring the page instead", flush=True)
        import urllib.request

        with urllib.request.urlopen(f"{srv.base_url}/{slug}/", timeout=30) as response:
            body = response.read()
        (out / slug).mkdir(parents=True, exist_ok=True)
        (out / slug / "index.html").write_bytes(body)
    for candidate in (out / slug / "index.html", out / "index.html"):
        if candidate.is_file():
            return out, "/" + str(candidate.parent.relative_to(out)).strip(".") + "/"
    raise RuntimeError(f"no index.html for {slug} under {out}")


def _probe(url: str, headers: tuple[str, ...]) -> tuple[int, str]:
    body, sent = _fetch(url, headers)
    return len(body), dict(sent).get("content-encoding", "identity")


def _fetch(url: str, headers: tuple[str, ...]) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and the headers (lower-case names) of a GET."""
    import urllib.request

    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read(), [(k.lower(), v) for k, v in response.headers.items()]


# ---------------------------------------------------------------------------------------------
# The ASGI baseline: what one uvicorn process serves through ASGI, with no application work


class CeilingApp:
    """An ASGI app that answers every request with bytes and headers captured from Clarion
    (identity, or gzip when asked): uvicorn, its protocol and event loop, and nothing else."""

    def __init__(self, folder: Path) -> None:
        self.answers: dict[bool, tuple[list[tuple[bytes, bytes]], bytes]] = {}
        for gz, name in ((False, "identity"), (True, "gzip")):
            pairs = json.loads((folder / f"{name}.headers.json").read_text())
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
            self.answers[gz] = (headers, (folder / f"{name}.body").read_bytes())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        gz = False
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                gz = b"gzip" in value
        headers, body = self.answers[gz]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def capture(url: str, folder: Path) -> None:
    """What Clarion sends for ``url`` (both encodings), for ``CeilingApp``: the same bytes and
    headers, less those uvicorn adds itself (``date``), with a request id of the same size."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, headers in ENCODINGS.items():
        body, sent = _fetch(url, headers)  # urllib does not decode: gzip stays gzip
        kept = [(k, v) for k, v in sent if k not in ("date", "server", "connection")]
        (folder / f"{name}.body").write_bytes(body)
        (folder / f"{name}.headers.json").write_text(json.dumps(kept))


@contextlib.contextmanager
def ceiling_server(folder: Path, log: Path) -> Iterator[int]:
    """``CeilingApp`` in its own process, run by uvicorn as ``clarion serve`` runs it."""
    port = server.free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_public", "--ceiling-app", str(folder), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ceiling app did not start: " + log.read_text()[-500:])
            try:
                _fetch(f"http://{server.HOST}:{port}/", ())
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.stop(process, 10)


def run_ceiling_app(folder: str, port: str) -> int:
    import uvicorn

    from clarion.cli.serve import uvicorn_options

    uvicorn.run(
        CeilingApp(Path(folder)), host=server.HOST, port=int(port), **uvicorn_options("warning")
    )
    return 0


def precompress(root: Path) -> None:
    """``.gz`` beside each text file (level 6, like Clarion's cache), for nginx's gzip_static:
    the fastest way to serve compressed static files, so the comparison is fair to nginx."""
    import gzip

    for path in list(root.rglob("*")):
        if path.is_file() and path.suffix in {
            ".html",
            ".json",
            ".atom",
            ".rss",
            ".svg",
            ".css",
            ".js",
            ".ics",
        }:
            path.with_name(path.name + ".gz").write_bytes(
                gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            )


def _open_tree(path: Path) -> None:
    # nginx's worker may run as another user: let it read the export.
    for folder, dirs, files in os.walk(path):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(Path(folder) / name, 0o644)
        for name in dirs:
            os.chmod(Path(folder) / name, 0o755)


@contextlib.contextmanager
def _serving(raw_url: str, log: Path) -> Iterator[server.Server]:
    try:
        with server.serve(raw_url, log) as srv:
            yield srv
    except RuntimeError:
        if log.exists():
            print(log.read_text()[-2000:], file=sys.stderr)
        raise


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--ceiling-app"]:  # the baseline's own process (see ``ceiling_server``)
        return run_ceiling_app(*args[1:3])
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_public",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--renders", type=int, default=300, help="uncached renders per page")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk rounds (alternating)")
    parser.add_argument(
        "--no-ceiling",
        dest="ceiling",
        action="store_false",
        help="skip the baseline: uvicorn, run as `clarion serve` runs it, answering every "
        "request with the page's captured bytes and headers and doing nothing else",
    )
    opts = parser.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is required (Debian: apt-get install {tool})", file=sys.stderr)
            return 2
    now = datetime.now(UTC)
    ok = True
    with tempfile.TemporaryDirectory(prefix="clarion-bench-public-") as tmp_name:
        tmp = Path(tmp_name)
        with server.temporary_database(opts.backend) as raw_url:
            started = time.perf_counter()
            engine, seeded = seeded_database(raw_url, tmp, now)
            token = create_keys(engine, 1, now)[0]
            print(
                f"seeded {seeded.incidents} incidents, {seeded.maintenances} maintenance "
                f"windows in {time.perf_counter() - started:.1f}s ({opts.backend})",
                flush=True,
            )
            with _serving(raw_url, tmp / "serve.log") as srv:
                results: dict[str, Latencies] = {}
                runner = asyncio.Runner()
                for slug in PAGES:
                    page_id = seeded.page_ids[slug]
                    for label, path in (
                        ("page", f"/{slug}/"),
                        ("summary.json", f"/{slug}/api/v2/summary.json"),
                        ("feed.atom", f"/{slug}/feed.atom"),
                    ):
                        name = f"{label} @{slug}"
                        writer = Writer(
                            f"{srv.host}:{srv.port}", token, latest_incident(engine, page_id)
                        )
                        runner.run(uncached(srv, writer, path, name, 20))  # warm-up
                        found = runner.run(uncached(srv, writer, path, name, opts.renders))
                        results[name] = found
                        print(
                            f"  uncached {name:<22} p50 {found.ms(50):6.2f}  p99 "
                            f"{found.ms(99):6.2f} ms  {found.size:,} bytes  errors "
                            f"{found.errors}",
                            flush=True,
                        )
                runner.close()
                site = tmp / "site"
                site.mkdir()
                root, page_path = export_site(raw_url, srv, "years", site)
                _open_tree(tmp)
                clarion_url = f"{srv.base_url}/years/"
                precompress(root)
                runs: dict[str, list[WrkResult]] = {}
                baseline: contextlib.AbstractContextManager[int] = contextlib.nullcontext(0)
                if opts.ceiling:
                    capture(clarion_url, tmp / "ceiling")
                    baseline = ceiling_server(tmp / "ceiling", tmp / "ceiling.log")
                with nginx(root, tmp) as port, baseline as ceiling_port:
                    nginx_url = f"http://{server.HOST}:{port}{page_path}"
                    sides = [("clarion", clarion_url), ("nginx", nginx_url)]
                    if opts.ceiling:
                        sides.append(("uvicorn", f"http://{server.HOST}:{ceiling_port}/"))
                    for _, target in sides:  # warm-up, and what each sends
                        wrk("warm-up", target, opts.connections, 2)
                        for encoding, headers in ENCODINGS.items():
                            size, coding = _probe(target, headers)
                            print(f"  {target}: {encoding} -> {size:,} bytes {coding}")
                    for _ in range(opts.rounds):
                        for encoding, headers in ENCODINGS.items():
                            for name, target in sides:
                                found_wrk = wrk(
                                    name, target, opts.connections, opts.seconds, headers
                                )
                                runs.setdefault(f"{name} {encoding}", []).append(found_wrk)
                                print(
                                    f"  cached {name:<8} {encoding:<9}"
                                    f"{found_wrk.requests_per_second:10.1f} req/s  p99 "
                                    f"{found_wrk.p99_ms:7.2f} ms  non-2xx {found_wrk.non_2xx}",
                                    flush=True,
                                )
            engine.dispose()
    best = {k: max(v, key=lambda r: r.requests_per_second) for k, v in runs.items()}
    print("\n== summary ==")
    print(
        f"machine: {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; backend {opts.backend}"
    )
    for encoding in ENCODINGS:
        ours, theirs = best[f"clarion {encoding}"], best[f"nginx {encoding}"]
        ratio = ours.requests_per_second / theirs.requests_per_second
        met = ratio >= THROUGHPUT_RATIO_TARGET
        ok = ok and met
        print(
            f"cached page ({encoding}), {opts.connections} connections, best of {opts.rounds}: "
            f"Clarion {ours.requests_per_second:,.0f} req/s, nginx "
            f"{theirs.requests_per_second:,.0f} req/s, ratio {ratio:.2f} "
            f"(target >= {THROUGHPUT_RATIO_TARGET}) {'met' if met else 'NOT MET'}"
        )
        bare = best.get(f"uvicorn {encoding}")
        if bare is not None:
            print(
                f"  ASGI baseline ({encoding}): uvicorn alone "
                f"{bare.requests_per_second:,.0f} req/s "
                f"= {bare.requests_per_second / theirs.requests_per_second:.2f} of nginx; "
                f"Clarion reaches {ours.requests_per_second / bare.requests_per_second:.2f} "
                "of it"
            )
    errors = sum(r.non_2xx for v in runs.values() for r in v)
    ok = ok and errors == 0
    for label in ("page", "summary.json", "feed.atom"):
        month, years = results[f"{label} @month"], results[f"{label} @years"]
        growth = years.ms(99) / month.ms(99)
        met = years.ms(99) < UNCACHED_P99_TARGET_MS and growth <= GROWTH_LIMIT
        if label == "page":
            ok = ok and met and not (month.errors or years.errors)
        print(
            f"uncached {label:<13} p99 one month {month.ms(99):6.2f} ms, two years "
            f"{years.ms(99):6.2f} ms (x{growth:.2f}); target < {UNCACHED_P99_TARGET_MS:.0f} "
            f"ms, x <= {GROWTH_LIMIT}: {'met' if met else 'NOT MET'}"
            f"{'' if label == 'page' else ' (for information)'}"
        )
        quarter = results[f"{label} @quarter"]
        print(
            f"  (for information) p50 one month {month.ms(50):6.2f}, 90 days "
            f"{quarter.ms(50):6.2f}, two years {years.ms(50):6.2f} ms; p99 90 days "
            f"{quarter.ms(99):6.2f} ms, two years / 90 days x{years.ms(99) / quarter.ms(99):.2f}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
