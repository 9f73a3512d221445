"""The static export benchmark: ``uv run python -m bench.export`` (or ``make bench-export``).

In one run per backend, with nothing else running against the database:

1. A fresh database with one page of 20 components (4 on their own, 4 groups of 4) and a
   two-year history (``seed.seed_history``): 5,000 incidents (2 or 3 updates each, 1 to 3
   affected components with their ledger rows; the newest one still open) and a maintenance
   window every two weeks plus one upcoming.
2. ``clarion export DIR`` into an empty directory (**full**, shared among the default number of
   processes, and **full, 1 job** into another directory, for comparison), then again with
   nothing changed (**unchanged**), then after one new incident published through the service
   layer (**incremental**), each run as users run it: the ``clarion`` command in a subprocess.

Each figure is the wall time of the whole command and, in its note, the export's own share (the
time the command reports: after Python has started and loaded the command line) and the CPU time
of the command and its helper processes. Targets, for the whole command: the full export under
10 s, the incremental one under 2 s.
"""

from __future__ import annotations

import asyncio
import random
import re
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bench import report, seed, server
from bench.report import Figure, Target
from clarion.audit import Actor
from clarion.components.models import Component
from clarion.settings import Settings

FULL_TARGET = Target(10.0)
INCREMENTAL_TARGET = Target(2.0)
SLUG = "years"
SPAN = timedelta(days=730)
INCIDENTS = 5_000
BASE_URL = "https://status.example.com"
#: What the export's one summary line says (see ``clarion.cli.export``).
SUMMARY = re.compile(
    r"exported (?P<pages>\d+) page\(s\), (?P<files>\d+) files \((?P<written>\d+) written, "
    r"(?P<unchanged>\d+) unchanged, (?P<removed>\d+) removed\) in (?P<seconds>[\d.]+) s"
)


def publish_incident(database_url: str, page_id: str) -> None:
    """One new incident on the page, through the service layer (as the API publishes it)."""
    from clarion.context import AppContext
    from clarion.incidents.service import ComponentStatusInput, create_incident

    async def run() -> None:
        ctx = AppContext.build(Settings(database_url=database_url))
        try:
            async with ctx.db.write() as session:
                component = await session.scalar(select(Component.id).order_by(Component.key))
                assert component is not None
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

    def figure(self, backend: str, target: Target | None = None) -> Figure:
        return Figure(
            f"clarion export, {self.name} ({INCIDENTS:,} incidents over two years)",
            backend,
            self.wall,
            "s",
            target,
            note=f"export alone {self.export:.2f} s, CPU {self.cpu:.2f} s, "
            f"{self.written:,} of {self.files:,} files written",
        )


def timed_export(database_url: str, out: Path, name: str, *options: str) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = server.run_cli(
        database_url, "export", str(out), "--page", SLUG, *options, CLARION_BASE_URL=BASE_URL
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = SUMMARY.search(output)
    if found is None:
        raise RuntimeError(f"unexpected output of clarion export: {output!r}")
    run = Run(name, wall, cpu, float(found["seconds"]), int(found["files"]), int(found["written"]))
    print(
        f"  {name:<13} {wall:6.2f} s  (export alone {run.export:.2f} s, CPU {cpu:.2f} s, "
        f"{run.written} of {run.files} files written)",
        flush=True,
    )
    return run


def run_backend(backend: str, log_dir: Path) -> list[Figure]:
    print(f"\n== export, {backend} ==", flush=True)
    folder = log_dir / backend
    folder.mkdir(parents=True)
    declaration = seed.history_declaration([SLUG])
    with seed.declared_database(backend, folder, declaration) as (raw_url, engine):
        started = time.perf_counter()
        seeded = seed.seed_history(
            engine, datetime.now(UTC), random.Random(13), {SLUG: SPAN}, INCIDENTS
        )
        print(
            f"  seeded {seeded.incidents[SLUG]:,} incidents and {seeded.maintenances[SLUG]} "
            f"maintenance windows in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        site = folder / "site"
        one_job = timed_export(raw_url, folder / "one", "full, 1 job", "--jobs", "1")
        full = timed_export(raw_url, site, "full")
        unchanged = timed_export(raw_url, site, "unchanged")
        publish_incident(raw_url, seeded.page_ids[SLUG])
        incremental = timed_export(raw_url, site, "incremental")
    return [
        full.figure(backend, FULL_TARGET),
        one_job.figure(backend),
        unchanged.figure(backend),
        incremental.figure(backend, INCREMENTAL_TARGET),
    ]


def run(backends: list[str], log_dir: Path) -> list[Figure]:
    return [f for b in backends for f in run_backend(b, log_dir)]


def main(argv: list[str] | None = None) -> int:
    args = report.parser("python -m bench.export", __doc__).parse_args(argv)
    return report.run_and_report(run, args.backend)


if __name__ == "__main__":
    sys.exit(main())
