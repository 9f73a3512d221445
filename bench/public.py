"""The public page benchmark: ``uv run python -m bench.public`` (or ``make bench-public``).

For each backend, in one run, on loopback, with bounded load:

1. A fresh database with two pages of 20 components each (``seed.HISTORY``): ``month`` with
   one month of history and ``years`` with two years (2,000 incidents: the same density, so
   only the length of the history differs), and their maintenance windows.
2. ``clarion serve`` in a subprocess. **Uncached page**: before each timed request the page's
   newest incident is renamed through the API (untimed), so every timed request misses the
   render cache and renders from the database; one client, sequential. The one-month page is
   the baseline.
3. **Cached page**: ``wrk`` with 64 connections, one thread, against the two-year page as
   three deployments serve it, each as one process (nginx with one worker), in turns:

   - ``clarion``: ``clarion serve`` from its render cache, through the app's middleware;
   - ``nginx``: the baseline, nginx serving the page's export (``clarion export``) with
     ``gzip_static`` (each file compressed beforehand, as Clarion compresses);
   - ``proxy``: nginx with ``proxy_cache`` in front of ``clarion serve``, configured by the
     snippet that ``docs/performance.md`` documents (read from there, so the two cannot
     differ), with only the listening address, Clarion's address and the cache directory
     replaced;
   - ``floor``: the server alone, ``bench.floor``: the HTTP server ``clarion serve`` runs,
     set up the same way, with a bare ASGI application sending the same bytes (for
     information: the part of Clarion's cost that is the server's).

   Each is measured with and without ``Accept-Encoding: gzip``; the best of the rounds
   counts. The CPU each server spent per request is printed beside its rate.

nginx runs as the current user, with its own configuration and temporary directories.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from bench import client, report, seed, server
from bench.report import Figure, Target

UNCACHED_P99 = Target(50.0)
CLARION_RATIO = Target(0.3, below=False)
PROXY_RATIO = Target(0.9, below=False)
#: Cached runs: as curl and most bots ask, and as browsers ask.
ENCODINGS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "gzip": ("Accept-Encoding: gzip, deflate, br",),
}
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
#: What the documented snippet names, and what the benchmark puts in its place.
SNIPPET_LISTEN = "listen 80;"
SNIPPET_UPSTREAM = "server 127.0.0.1:8080;"
SNIPPET_CACHE_DIR = "/var/cache/nginx/clarion"


@dataclass
class Options:
    renders: int = 300
    connections: int = 64
    seconds: int = 10
    rounds: int = 2


# ---------------------------------------------------------------------------------------------
# Uncached renders


def uncached(
    srv: server.Server, token: str, engine: Engine, page_id: str, slug: str, count: int
) -> client.Result:
    """``count`` renders of the page at ``/<slug>/``, each after a rename of its newest
    incident (see the module's docstring)."""
    host = f"{srv.host}:{srv.port}"
    newest = seed.latest_incident(engine, page_id)
    timed = client.Request(client.http_request("GET", f"/{slug}/", host=host), "page")
    return asyncio.run(
        client.drive_after_writes(
            f"uncached page @{slug}",
            srv,
            timed,
            lambda n: client.rename_incident(host, token, newest, n),
            count=count,
        )
    )


# ---------------------------------------------------------------------------------------------
# Cached: wrk against each deployment


@dataclass
class WrkResult:
    requests_per_second: float
    p99_ms: float
    #: responses other than 2xx or 3xx, and socket errors (connect, read, write, timeout)
    errors: int
    #: CPU spent by each serving process, per request (microseconds)
    cpu_us: tuple[float, ...]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str, connections: int, seconds: int, headers: tuple[str, ...], pids: tuple[int, ...]
) -> WrkResult:
    """One bounded ``wrk`` run (one thread: the machine's cores are shared with the server),
    and the CPU that each process of ``pids`` spent meanwhile."""
    extra = [arg for header in headers for arg in ("-H", header)]
    before = [client.process_cpu_seconds(pid) for pid in pids]
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    cpu = [client.process_cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
    out = done.stdout

    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, out)

    rps = find(r"Requests/sec:\s+([\d.]+)")
    total = find(r"(\d+) requests in")
    p99 = find(r"99%\s+([\d.]+)(us|ms|s)")
    non_2xx = find(r"Non-2xx or 3xx responses:\s+(\d+)")
    socket_errors = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    if rps is None or total is None:
        raise RuntimeError(f"wrk {url}: {out}")
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return WrkResult(
        float(rps.group(1)),
        float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
        errors,
        tuple(seconds * 1e6 / max(1, int(total.group(1))) for seconds in cpu),
    )


def cpu_text(result: WrkResult) -> str:
    """CPU per request of each process (nginx, then Clarion behind it), in microseconds."""
    return " + ".join(f"{us:.0f}" for us in result.cpu_us) + " us"


NGINX_CONF = """\
worker_processes 1;
daemon off;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
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
{body}
}}
"""

STATIC_SERVER = """\
    gzip_static on;
    server {{
        listen {listen};
        root {root};
        index index.html;
        location / {{ try_files $uri $uri/index.html $uri.html =404; }}
    }}
"""


def documented_snippet() -> str:
    """The nginx configuration of the reverse-proxy deployment, as ``docs/performance.md``
    documents it: its one ``nginx`` code block."""
    blocks = re.findall(r"^```nginx\n(.*?)^```", DOC.read_text(), re.MULTILINE | re.DOTALL)
    if len(blocks) != 1:
        raise RuntimeError(f"{DOC.name} should have one nginx block, not {len(blocks)}")
    return str(blocks[0])


def proxy_conf(snippet: str, listen: str, upstream: str, cache_dir: Path) -> str:
    """``snippet`` with the addresses and the cache directory of this run."""
    for placeholder in (SNIPPET_LISTEN, SNIPPET_UPSTREAM, SNIPPET_CACHE_DIR):
        if snippet.count(placeholder) != 1:
            raise RuntimeError(f"the documented snippet should name {placeholder!r} once")
    return (
        snippet.replace(SNIPPET_LISTEN, f"listen {listen};")
        .replace(SNIPPET_UPSTREAM, f"server {upstream};")
        .replace(SNIPPET_CACHE_DIR, str(cache_dir))
    )


@contextlib.contextmanager
def nginx(folder: Path, body: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Debian's nginx with one worker, serving ``body`` (the inside of ``http {}``) on
    ``port`` until the block ends; its files are in ``folder``."""
    folder.mkdir(parents=True)
    # Started by root, nginx would run its worker as ``nobody``: keep it the current user.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, tmp=folder, body=body))
    executable = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen(
        [executable, "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                log = folder / "error.log"
                raise RuntimeError(f"nginx did not start: {log.read_text()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection((server.HOST, port), 1):
                break
            time.sleep(0.1)
        yield process
    finally:
        server.stop(process, 10)


def export_page(raw_url: str, slug: str, out: Path) -> None:
    """``clarion export`` of one page, each text file compressed beside it (level 6, as
    Clarion compresses) for nginx's ``gzip_static``: the fastest way nginx serves gzip."""
    server.run_cli(raw_url, "export", str(out), "--page", slug)
    if not (out / slug / "index.html").is_file():
        raise RuntimeError(f"clarion export wrote no {slug}/index.html")
    texts = {".html", ".json", ".atom", ".rss", ".svg", ".css", ".js", ".ics"}
    for path in list(out.rglob("*")):
        if path.is_file() and path.suffix in texts:
            path.with_name(path.name + ".gz").write_bytes(
                gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            )


def fetch(url: str, headers: tuple[str, ...]) -> bytes:
    """The body a GET of ``url`` answers, as sent (gzip stays gzip)."""
    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


@contextlib.contextmanager
def floor_server(folder: Path, page_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``bench.floor`` on ``port``, holding the two bodies Clarion sends for ``page_url``."""
    folder.mkdir()
    files = {}
    for encoding, headers in ENCODINGS.items():
        files[encoding] = folder / f"page.{encoding}"
        files[encoding].write_bytes(fetch(page_url, headers))
    command = [sys.executable, "-m", "bench.floor", "--host", server.HOST, "--port", str(port)]
    command += ["--identity", str(files["identity"]), "--gzip", str(files["gzip"])]
    with open(folder / "floor.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process)
        yield process
    finally:
        server.stop(process, 15)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bench.floor exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((server.HOST, port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError("bench.floor did not start listening")


def probe(url: str, headers: tuple[str, ...]) -> str:
    """What a GET of ``url`` answers: size, encoding and (behind the proxy) cache status."""
    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    with urllib.request.urlopen(request, timeout=30) as response:  # gzip stays gzip
        body = response.read()
        coding = response.headers.get("content-encoding", "identity")
        cache = response.headers.get("x-cache-status")
    return f"{len(body):,} bytes {coding}" + (f", cache {cache}" if cache else "")


def cached(
    raw_url: str, srv: server.Server, folder: Path, opts: Options
) -> dict[str, list[WrkResult]]:
    """The wrk runs of every deployment and encoding, keyed ``"<deployment> <encoding>"``."""
    export_page(raw_url, "years", folder / "site")
    static_port, proxy_port, floor_port = (server.free_port() for _ in range(3))
    static = STATIC_SERVER.format(listen=f"{server.HOST}:{static_port}", root=folder / "site")
    proxied = proxy_conf(
        documented_snippet(),
        f"{server.HOST}:{proxy_port}",
        f"{srv.host}:{srv.port}",
        folder / "proxy-cache",
    )
    runs: dict[str, list[WrkResult]] = {}
    with (
        nginx(folder / "nginx-static", static, static_port) as static_nginx,
        nginx(folder / "nginx-proxy", proxied, proxy_port) as proxy_nginx,
        floor_server(folder / "floor", f"{srv.base_url}/years/", floor_port) as floor,
    ):
        sides = {
            "clarion": (f"{srv.base_url}/years/", (srv.pid,)),
            "nginx": (f"http://{server.HOST}:{static_port}/years/", (static_nginx.pid,)),
            "proxy": (f"http://{server.HOST}:{proxy_port}/years/", (proxy_nginx.pid, srv.pid)),
            "floor": (f"http://{server.HOST}:{floor_port}/years/", (floor.pid,)),
        }
        for name, (url, pids) in sides.items():
            for headers in ENCODINGS.values():  # fills every cache, and shows what each sends
                wrk(url, opts.connections, 2, headers, pids)
                print(f"  {name:<8} {url}: {probe(url, headers)}", flush=True)
        for _ in range(opts.rounds):
            for encoding, headers in ENCODINGS.items():
                for name, (url, pids) in sides.items():
                    found = wrk(url, opts.connections, opts.seconds, headers, pids)
                    runs.setdefault(f"{name} {encoding}", []).append(found)
                    print(
                        f"  cached {name:<8} {encoding:<9}{found.requests_per_second:10,.0f} "
                        f"req/s  p99 {found.p99_ms:6.2f} ms  CPU/req {cpu_text(found)}  "
                        f"errors {found.errors}",
                        flush=True,
                    )
    return runs


# ---------------------------------------------------------------------------------------------


def run_backend(backend: str, log_dir: Path, opts: Options) -> list[Figure]:
    print(f"\n== public page, {backend} ==", flush=True)
    now = datetime.now(UTC)
    folder = log_dir / backend
    folder.mkdir()
    with seed.declared_database(backend, folder, seed.history_declaration()) as (raw, engine):
        seeded = seed.seed_history(engine, now, random.Random(4))
        token = seed.create_keys(engine, 1, now)[0]
        print(f"  seeded {seeded.incidents} incidents, {seeded.maintenances} maintenance windows")
        with server.serve(raw, folder / "serve.log") as srv:
            pages: dict[str, client.Result] = {}
            for slug in seed.HISTORY:
                page_id = seeded.page_ids[slug]
                uncached(srv, token, engine, page_id, slug, 20)  # warm-up
                pages[slug] = uncached(srv, token, engine, page_id, slug, opts.renders)
                print(f"    {pages[slug].describe()}", flush=True)
            runs = cached(raw, srv, folder, opts)
    month, years = pages["month"], pages["years"]
    best = {k: max(v, key=lambda r: r.requests_per_second) for k, v in runs.items()}
    found = [
        Figure(
            "uncached two-year page p99",
            backend,
            years.ms(99),
            "ms",
            UNCACHED_P99,
            not years.errors,
            f"one-month page {month.ms(99):.2f} ms",
        )
    ]
    for encoding in ENCODINGS:
        nginx_side = best[f"nginx {encoding}"]
        for name, target in (("clarion", CLARION_RATIO), ("proxy", PROXY_RATIO)):
            side = best[f"{name} {encoding}"]
            label = "Clarion" if name == "clarion" else "nginx proxy_cache before Clarion"
            found.append(
                Figure(
                    f"cached page, {encoding}: {label} / nginx static",
                    backend,
                    side.requests_per_second / nginx_side.requests_per_second,
                    "",
                    target,
                    side.errors == 0 and nginx_side.errors == 0,
                    f"{side.requests_per_second:,.0f} / {nginx_side.requests_per_second:,.0f}"
                    f" req/s; CPU/req {cpu_text(side)} / {cpu_text(nginx_side)}",
                )
            )
        floor, clarion = best[f"floor {encoding}"], best[f"clarion {encoding}"]
        found.append(
            Figure(
                f"cached page, {encoding}: the server alone (bare ASGI app) / nginx static",
                backend,
                floor.requests_per_second / nginx_side.requests_per_second,
                "",
                None,
                floor.errors == 0,
                f"{floor.requests_per_second:,.0f} req/s; CPU/req {cpu_text(floor)}; Clarion /"
                f" the server alone {clarion.requests_per_second / floor.requests_per_second:.2f}",
            )
        )
    return found


def run(backends: list[str], log_dir: Path, opts: Options | None = None) -> list[Figure]:
    """Every backend in turn; the figures."""
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is required: scripts/bootstrap --with-bench installs it")
    return [f for b in backends for f in run_backend(b, log_dir, opts or Options())]


def main(argv: list[str] | None = None) -> int:
    cli = report.parser("python -m bench.public", __doc__)
    defaults = Options()
    cli.add_argument("--renders", type=int, default=defaults.renders, help="per page")
    cli.add_argument("--connections", type=int, default=defaults.connections)
    cli.add_argument("--seconds", type=int, default=defaults.seconds, help="per wrk run")
    cli.add_argument("--rounds", type=int, default=defaults.rounds, help="of wrk runs")
    args = cli.parse_args(argv)
    opts = Options(args.renders, args.connections, args.seconds, args.rounds)
    return report.run_and_report(lambda b, folder: run(b, folder, opts), args.backend)


if __name__ == "__main__":
    sys.exit(main())
