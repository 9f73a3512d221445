"""A soak: ``clarion serve`` under minutes of steady writes and reads keeps its memory within a
bound.

A real server process (``clarion serve --no-worker``) on SQLite, in the SQLite pass only (what
it holds in memory is the same on both backends), takes, from several threads at once, about
12 writes a second (incidents declared, updated through their statuses with component impacts,
and resolved) and about 37 reads a second (the public page, its history, feeds and JSON
documents, incident pages, and the API's incident lists). The resident memory of its process
tree is sampled from ``/proc``; after a warm-up (caches filled, the allocator settled), it may
grow by at most ``GROWTH_BOUND_MIB`` while the load goes on.

``CLARION_TEST_SOAK_SECONDS`` sets how long the load goes on after the warm-up (default 300);
``CLARION_TEST_SOAK_BACKEND=postgresql`` runs it in the PostgreSQL pass instead.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.serving import clarion_serve
from tests.contract.cli import run_cli
from tests.harness import backend, fresh_database
from tests.processes import descendants

WARM_UP_SECONDS = 60.0
SOAK_SECONDS = float(os.environ.get("CLARION_TEST_SOAK_SECONDS", "300"))
WRITES_PER_SECOND = 12.0
READS_PER_SECOND = 37.0
#: How much the server's resident memory may grow from the end of the warm-up to the end.
GROWTH_BOUND_MIB = 64.0
SAMPLE_EVERY_SECONDS = 2.0
#: Samples averaged (by median) at each end of the measured span.
SETTLE_SECONDS = 10.0
COMPONENTS = 12
SLUG = "soak"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        backend() != os.environ.get("CLARION_TEST_SOAK_BACKEND", "sqlite"),
        reason="one soak per run (SQLite's pass, unless CLARION_TEST_SOAK_BACKEND names another)",
    ),
    pytest.mark.timeout(int(WARM_UP_SECONDS + SOAK_SECONDS) + 240),
]


def _declaration() -> str:
    lines = ["components:"]
    lines += [f"  - {{key: c{n}, name: Service {n}}}" for n in range(COMPONENTS)]
    lines += ["status_pages:", f"  - slug: {SLUG}", "    name: Soak", "    items:"]
    lines += [f"      - component: c{n}" for n in range(COMPONENTS)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, str, str]]:
    """A server on a database with one page of ``COMPONENTS`` components: its pid, its URL and
    a key that reads and publishes."""
    with fresh_database(str(tmp_path)) as url:
        run_cli(url, "db", "upgrade")
        declaration = tmp_path / "page.yaml"
        declaration.write_text(_declaration())
        run_cli(url, "apply", str(declaration))
        roles = ("--role", "viewer", "--role", "status_page_publisher")
        token = run_cli(url, "keys", "create", "--name", "soak", *roles).stdout.strip()
        # Writes and API reads together exceed one key's default refill.
        limits = {"CLARION_RATE_LIMIT_REFILL_PER_SECOND": "1000"}
        with clarion_serve(url, tmp_path / "serve.log", **limits) as (process, base):
            yield process.pid, base, token


# -- resident memory -------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    """The resident memory of ``pid`` and its descendants (``VmRSS``), in MiB."""
    total_kib = 0
    for each in descendants(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


# -- load ------------------------------------------------------------------------------------


@dataclass
class Load:
    base: str
    token: str
    page_id: str
    components: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=64))
    writes: int = 0
    reads: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def check(self, response: httpx.Response, counter: str) -> httpx.Response:
        with self.lock:
            if response.status_code >= 400:
                self.failures.append(
                    f"{response.request.url}: {response.status_code} {response.text:.300}"
                )
            setattr(self, counter, getattr(self, counter) + 1)
        return response


def _paced(rate: float, stop: threading.Event, action: Callable[[int], None]) -> None:
    """``action(n)`` about ``rate`` times a second until ``stop``, never catching up in a burst
    after falling behind."""
    interval, due, n = 1 / rate, time.monotonic(), 0
    while not stop.is_set():
        action(n)
        n += 1
        due += interval
        delay = due - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            due = time.monotonic()


#: An incident's life: its status and its component's impact at each write.
STEPS = (
    ("investigating", "degraded_performance"),
    ("identified", "partial_outage"),
    ("monitoring", "degraded_performance"),
    ("resolved", ""),
)


def _writer(load: Load, number: int, rate: float) -> None:
    """Incidents one after another, each written ``len(STEPS)`` times."""
    with load.client() as http:
        incident = ""

        def write(n: int) -> None:
            nonlocal incident
            serial, step = divmod(n, len(STEPS))
            status, impact = STEPS[step]
            component = load.components[(serial * 5 + number) % len(load.components)]
            affected = [{"component_id": component, "component_status": impact}]
            message = f"Step {step} of **soak incident {number}-{serial}**: now `{status}`."
            if step == 0:
                body: dict[str, Any] = {
                    "status_page_id": load.page_id,
                    "name": f"Elevated errors {number}-{serial}",
                    "incident_status": status,
                    "message": message,
                    "notify_subscribers": False,
                    "idempotency_key": f"soak-{number}-{serial}",
                    "component_statuses": affected,
                }
                made = load.check(http.post("/v2/status_page_incidents", json=body), "writes")
                incident = made.json().get("status_page_incident", {}).get("id", "")
                if incident:
                    load.recent.append(incident)
            elif incident:
                body = {
                    "status_page_incident_id": incident,
                    "incident_status": status,
                    "message": message,
                    "notify_subscribers": False,
                }
                if status != "resolved":  # resolving makes every component operational
                    body["component_statuses"] = affected
                load.check(http.post("/v2/status_page_incident_updates", json=body), "writes")

        _paced(rate, load.stop, write)


def _reader(load: Load, number: int, rate: float) -> None:
    """The public site and the API's lists, round and round."""
    public = [
        "",
        "history",
        "feed.atom",
        "feed.rss",
        "maintenance.ics",
        "api/v2/summary.json",
        "api/v2/incidents.json",
        "badge.svg",
        "",
    ]
    lists = [f"page_size={size}" for size in (10, 25, 50)]
    with load.client() as http:

        def read(n: int) -> None:
            turn = (n + number) % (len(public) + len(lists) + 2)
            gzip = {"Accept-Encoding": "gzip" if n % 2 else "identity"}
            if turn < len(public):
                path = f"/{SLUG}/{public[turn]}".rstrip("/")
                load.check(http.get(path, headers=gzip), "reads")
            elif turn - len(public) < len(lists):
                query = f"status_page_id={load.page_id}&{lists[turn - len(public)]}"
                load.check(http.get(f"/v2/status_page_incidents?{query}"), "reads")
            elif load.recent:
                incident = load.recent[n % len(load.recent)]
                if turn % 2:
                    load.check(http.get(f"/{SLUG}/incidents/{incident}", headers=gzip), "reads")
                else:
                    load.check(http.get(f"/v2/status_page_incidents/{incident}"), "reads")

        _paced(rate, load.stop, read)


def _start(load: Load) -> list[threading.Thread]:
    writers, readers = 2, 4
    threads = [
        threading.Thread(target=_writer, args=(load, n, WRITES_PER_SECOND / writers))
        for n in range(writers)
    ] + [
        threading.Thread(target=_reader, args=(load, n, READS_PER_SECOND / readers))
        for n in range(readers)
    ]
    for thread in threads:
        thread.start()
    return threads


def _page(base: str, token: str) -> tuple[str, list[str]]:
    headers = {"Authorization": f"Bearer {token}"}
    pages = httpx.get(f"{base}/v2/status_pages", headers=headers, timeout=30).json()
    page_id = pages["status_pages"][0]["id"]
    listed = httpx.get(
        f"{base}/v2/status_page_components",
        params={"status_page_id": page_id},
        headers=headers,
        timeout=30,
    ).json()
    return page_id, [c["id"] for c in listed["status_page_components"]]


def test_resident_memory_stays_bounded_under_minutes_of_writes_and_reads(
    served: tuple[int, str, str], tmp_path: Path
) -> None:
    pid, base, token = served
    page_id, components = _page(base, token)
    assert len(components) == COMPONENTS
    load = Load(base, token, page_id, components)
    samples: list[tuple[float, float]] = []  # (seconds since the start, MiB)
    started = time.monotonic()
    threads = _start(load)
    try:
        end = started + WARM_UP_SECONDS + SOAK_SECONDS
        while time.monotonic() < end:
            samples.append((time.monotonic() - started, rss_mib(pid)))
            time.sleep(SAMPLE_EVERY_SECONDS)
            assert not load.failures, load.failures[:10]
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(60)
    (tmp_path / "rss.tsv").write_text("".join(f"{t:.0f}\t{m:.1f}\n" for t, m in samples))

    def around(moment: float) -> float:
        return statistics.median(m for t, m in samples if abs(t - moment) <= SETTLE_SECONDS / 2)

    warm = around(WARM_UP_SECONDS - SETTLE_SECONDS / 2)
    last = around(samples[-1][0] - SETTLE_SECONDS / 2)
    figures = (
        f"RSS {samples[0][1]:.0f} MiB at the start, {warm:.0f} after the {WARM_UP_SECONDS:.0f} s"
        f" warm-up, {last:.0f} after {SOAK_SECONDS:.0f} s more (peak"
        f" {max(m for _, m in samples):.0f}); {load.writes} writes, {load.reads} reads"
    )
    print(figures)
    assert not load.failures, load.failures[:10]
    elapsed = WARM_UP_SECONDS + SOAK_SECONDS
    # The load really ran (at least half of what was asked, on a busy machine).
    assert load.writes >= WRITES_PER_SECOND * elapsed / 2, figures
    assert load.reads >= READS_PER_SECOND * elapsed / 2, figures
    assert last - warm <= GROWTH_BOUND_MIB, figures
