"""The static export benchmark (issue 13, "Figures"): ``uv run python -m bench.export``.

In one run per backend, with nothing else running against the database:

1. A fresh database with one page of 20 components (4 on their own, 4 groups of 4) and a
   realistic two-year history: 5,000 incidents (1 to 4 updates each, 1 to 3 affected
   components with their ledger rows; the newest one still open) and a maintenance window
   every two weeks plus one upcoming.
2. ``clarion export DIR`` into an empty directory (**full**, shared among the default number of
   processes, and **full, 1 job** into another directory, for comparison), then again with
   nothing changed (**unchanged**), then after one new incident published through the service
   layer (**incremental**), each run as users run it: ``python -m clarion`` in a subprocess.

Each figure is the wall time of the whole command and, apart, of the export itself (the time the
command reports: without starting Python and importing Clarion). The machine's load average is
printed with them: on a shared machine it moves the figures more than anything else. Targets,
for the whole command: the full export under 10 s, the incremental one under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from clarion.audit import Actor
from clarion.components.models import Component, ComponentStatusChange
from clarion.db.engine import make_sync_engine
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage

FULL_TARGET_SECONDS = 10.0
INCREMENTAL_TARGET_SECONDS = 2.0
SLUG = "years"
SPAN = timedelta(days=730)
IMPACTS = ("degraded_performance", "partial_outage", "full_outage")
BASE_URL = "https://status.example.com"
PG_ADMIN_URL = os.environ.get(
    "CLARION_BENCH_PG_ADMIN_URL",
    os.environ.get("CLARION_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
#: What the export's one summary line says (see ``clarion.cli.export``).
SUMMARY = re.compile(
    r"exported (?P<pages>\d+) page\(s\), (?P<files>\d+) files \((?P<written>\d+) written, "
    r"(?P<unchanged>\d+) unchanged, (?P<removed>\d+) removed\) in (?P<seconds>[\d.]+) s"
)


def declaration() -> str:
    lines = ["components:"]
    lines += [f"  - {{key: c{i:02d}, name: Component {i:02d}}}" for i in range(20)]
    lines += ["status_pages:", f"  - slug: {SLUG}", "    name: Two years of history", "    items:"]
    lines += [f"      - component: c{i:02d}" for i in range(4)]
    for g in range(4):
        members = ", ".join(f"c{4 + 4 * g + k:02d}" for k in range(4))
        lines += [
            "      - group:",
            f"          name: Region {g}",
            f"          components: [{members}]",
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def temporary_database(backend: str) -> Iterator[str]:
    """A fresh, empty database URL; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="clarion-bench-export-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    import psycopg

    name = f"clarion_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cli(database_url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    env.update(CLARION_DATABASE_URL=database_url, CLARION_BASE_URL=BASE_URL)
    done = subprocess.run(
        [sys.executable, "-m", "clarion", *args], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"clarion {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _change(
    page_id: str, component: str, cause: dict[str, str], status: str, at: datetime, seq: int
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


def seed(engine: Engine, now: datetime, incidents: int, rng: random.Random) -> int:
    """The page's history as of ``now`` (see the module's docstring); returns the number of
    maintenance windows."""
    with engine.connect() as conn:
        components = list(conn.execute(select(Component.id).order_by(Component.key)).scalars())
        page_id = conn.execute(select(StatusPage.id).where(StatusPage.slug == SLUG)).scalar_one()
    rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    starts = sorted(now - SPAN * rng.random() for _ in range(incidents))
    phases = ("investigating", "identified", "monitoring", "resolved")
    for n, published in enumerate(starts):
        incident_id = new_id()
        ongoing = n == incidents - 1
        affected = rng.sample(components, rng.randint(1, 3))
        impact = rng.choice(IMPACTS)
        cause = {"incident": incident_id}
        count = 1 if ongoing else rng.randint(2, 4)
        statuses = [*phases[: count - 1], "resolved"] if not ongoing else ["investigating"]
        at = last = published
        for k, status in enumerate(statuses):
            given = []
            if k == 0:
                given = [{"component_id": c, "component_status": impact} for c in affected]
                changes += [
                    _change(page_id, c, cause, impact, at, i + 1) for i, c in enumerate(affected)
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
                    "message": f"**{status.title()}** ({n}.{k}): elevated error rates on the API. "
                    "See [the runbook](https://example.com/runbook) for what we are doing.",
                    "incident_status": status,
                    "component_statuses": given,
                    "notify_subscribers": False,
                    "published_at": at,
                }
            )
            last = at
            at = min(at + timedelta(minutes=rng.randint(5, 90)), now)
        rows.append(
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
    starts = [now - timedelta(days=14 * k) for k in range(1, SPAN.days // 14 + 1)]
    for k, start in enumerate([now + timedelta(days=3), *starts]):
        window_id = new_id()
        complete = start < now
        end = start + timedelta(hours=2)
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
            for i, c in enumerate(rng.sample(components, 2))
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
        for batch in range(0, len(rows), 2_000):
            conn.execute(insert(Incident.__table__), rows[batch : batch + 2_000])
        for batch in range(0, len(updates), 2_000):
            conn.execute(insert(IncidentUpdate.__table__), updates[batch : batch + 2_000])
        for batch in range(0, len(changes), 2_000):
            conn.execute(insert(ComponentStatusChange.__table__), changes[batch : batch + 2_000])
        conn.execute(insert(Maintenance.__table__), windows)
        conn.execute(insert(MaintenanceComponent.__table__), links)
        conn.execute(insert(MaintenanceUpdate.__table__), window_updates)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return len(windows)


def publish_incident(database_url: str) -> None:
    """One new incident on the page, through the service layer (as the API publishes it)."""
    from clarion.context import AppContext
    from clarion.incidents.service import ComponentStatusInput, create_incident

    async def run() -> None:
        ctx = AppContext.build(Settings(database_url=database_url))
        try:
            async with ctx.db.write() as session:
                page_id = await session.scalar(select(StatusPage.id).where(StatusPage.slug == SLUG))
                component = await session.scalar(select(Component.id).order_by(Component.key))
                assert page_id is not None and component is not None
                await create_incident(
                    session,
                    ctx.events,
                    actor=Actor.cli(),
                    page_id=page_id,
                    name="A new outage",
                    incident_status="investigating",
                    message="We are looking into it.",
                    notify_subscribers=False,
                    component_statuses=[ComponentStatusInput(component, "partial_outage")],
                    now=ctx.clock.now(),
                )
        finally:
            await ctx.close()

    asyncio.run(run())


@dataclass
class Run:
    name: str
    wall: float
    #: CPU seconds of the command and its helper processes (user and system).
    cpu: float
    export: float
    files: int
    written: int
    unchanged: int
    removed: int


def timed_export(database_url: str, out: Path, name: str, *options: str) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = run_cli(database_url, "export", str(out), "--page", SLUG, *options)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = SUMMARY.search(output)
    if found is None:
        raise RuntimeError(f"unexpected output of clarion export: {output!r}")
    return Run(
        name,
        wall,
        cpu,
        float(found["seconds"]),
        int(found["files"]),
        int(found["written"]),
        int(found["unchanged"]),
        int(found["removed"]),
    )


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load}"


def run_backend(backend: str, incidents: int) -> list[Run]:
    with temporary_database(backend) as raw_url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run_cli(raw_url, "db", "upgrade")
        (folder / "pages.yaml").write_text(declaration())
        run_cli(raw_url, "apply", str(folder / "pages.yaml"))
        engine = make_sync_engine(Settings(database_url=raw_url).database_url)
        started = time.perf_counter()
        windows = seed(engine, datetime.now(UTC), incidents, random.Random(13))
        engine.dispose()
        print(
            f"{backend}: seeded {incidents:,} incidents and {windows} maintenance windows "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        out = folder / "site"
        runs = [timed_export(raw_url, folder / "one", "full, 1 job", "--jobs", "1")]
        runs.append(timed_export(raw_url, out, "full"))
        runs.append(timed_export(raw_url, out, "unchanged"))
        publish_incident(raw_url)
        runs.append(timed_export(raw_url, out, "incremental"))
        for run in runs:
            print(f"  {run.name:<13} {run.wall:6.2f} s", flush=True)
        return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument(
        "--backend",
        action="append",
        choices=["sqlite", "postgresql"],
        help="database backend (repeatable; default: both)",
    )
    parser.add_argument("--incidents", type=int, default=5_000, help="incidents (5000)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    results = {b: run_backend(b, args.incidents) for b in args.backend or ["sqlite", "postgresql"]}
    print(f"\n== summary ({args.incidents:,} incidents over two years) ==")
    print(f"machine: {machine()}")
    print(
        f"{'backend':<11}{'run':<14}{'wall s':>8}{'CPU s':>7}{'export s':>10}{'files':>7}"
        f"{'written':>9}{'unchanged':>11}{'removed':>9}"
    )
    ok = True
    for backend, runs in results.items():
        for r in runs:
            print(
                f"{backend:<11}{r.name:<14}{r.wall:8.2f}{r.cpu:7.2f}{r.export:10.2f}{r.files:7}"
                f"{r.written:9}{r.unchanged:11}{r.removed:9}"
            )
    print("\ntargets (wall time of the command):")
    for backend, runs in results.items():
        by_name = {r.name: r for r in runs}
        for name, target in (
            ("full", FULL_TARGET_SECONDS),
            ("incremental", INCREMENTAL_TARGET_SECONDS),
        ):
            r = by_name[name]
            met = r.wall < target
            ok = ok and met
            print(
                f"  {backend:<11}{name:<12} {r.wall:6.2f} s < {target:4.1f} s  "
                f"{'met' if met else 'NOT MET'}  (export alone {r.export:.2f} s, "
                f"{r.export / target:.2f} of the target; CPU {r.cpu:.2f} s)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
