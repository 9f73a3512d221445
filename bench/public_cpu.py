"""CPU time of one uncached render of the public page, in process:
``uv run python -m bench.public_cpu [--write rename|ledger] [--renders N]``.

The same three pages as ``bench.bench_public`` (``month``, ``quarter``, ``years``: one month, the
90 days of the uptime bars, two years of history at the same density). The public site runs in
this process, with the collector set as ``clarion serve`` sets it. Before each timed request a
write (not timed) changes what the page shows, so the request misses the render cache and takes
the full path (page version, snapshot, uptime bars, template):

- ``rename`` (the default, as ``bench_public`` does): the latest incident is renamed;
- ``ledger``: a component status change of the latest incident is recorded (the one before is
  removed), a write to the status ledger, which makes the uptime bars read their window again.

The pages take turns, so a busy machine slows them alike. Printed: the median and the 90th
percentile of the CPU time (``time.process_time``) per request, and the ratios of the medians.
The figure without the HTTP server and the client: the benchmark's uncached latency adds them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select
from starlette.requests import Request

from bench import server
from bench.bench_public import PAGES, latest_incident, seeded_database
from clarion.cli.serve import _freeze_startup_objects
from clarion.clock import SystemClock
from clarion.components.models import ComponentStatusChange
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.incidents.service import rename_incident
from clarion.public.routes import PublicSite
from clarion.settings import Settings
from clarion.status_pages.service import bump_content_version

#: The ``seq`` of the ledger rows this benchmark writes (so that it can remove them again).
SEQ = 99


class Writer:
    """The untimed write before each request (see the module's docstring)."""

    def __init__(self, ctx: AppContext, page_id: str, incident_id: str, kind: str) -> None:
        self.ctx, self.page_id, self.incident_id, self.kind = ctx, page_id, incident_id, kind
        self.count = 0

    async def write(self) -> None:
        self.count += 1
        now = self.ctx.clock.now()
        async with self.ctx.db.write() as session:
            if self.kind == "rename":
                await rename_incident(session, self.incident_id, f"Renamed {self.count}", now)
                return
            ledger = ComponentStatusChange
            component = await session.scalar(
                select(ledger.component_id).where(ledger.incident_id == self.incident_id).limit(1)
            )
            await session.execute(
                delete(ledger).where(ledger.incident_id == self.incident_id, ledger.seq == SEQ)
            )
            await session.execute(
                insert(ledger).values(
                    id=new_id(),
                    status_page_id=self.page_id,
                    component_id=component,
                    incident_id=self.incident_id,
                    status=("partial_outage", "degraded_performance")[self.count % 2],
                    occurred_at=now - timedelta(seconds=1),
                    seq=SEQ,
                )
            )
            await bump_content_version(session, self.page_id, now)


def request(slug: str) -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/{slug}/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
    }
    return Request(scope, receive)


async def run(url: str, writers: dict[str, tuple[str, str]], kind: str, renders: int) -> int:
    settings = Settings(database_url=url, base_url="http://127.0.0.1", secret_key="x" * 32)
    ctx = AppContext.build(settings, SystemClock())
    site = PublicSite(ctx)
    pages = {slug: Writer(ctx, page, incident, kind) for slug, (page, incident) in writers.items()}
    samples: dict[str, list[float]] = {slug: [] for slug in pages}
    sizes: dict[str, int] = {}
    _freeze_startup_objects()
    for turn in range(renders + 20):  # the first 20 warm up
        for slug, writer in pages.items():
            await writer.write()
            started = time.process_time()
            response = await site.handle(request(slug))
            spent = time.process_time() - started
            if response.status_code != 200:
                print(f"{slug}: {response.status_code}", file=sys.stderr)
                return 1
            sizes[slug] = len(response.body)
            if turn >= 20:
                samples[slug].append(spent * 1000)
    await ctx.close()
    median = {slug: statistics.median(found) for slug, found in samples.items()}
    print(f"CPU per uncached render of the page ({renders} each, write: {kind}):")
    for slug, found in samples.items():
        p90 = statistics.quantiles(found, n=10)[-1]
        print(
            f"  {slug:<8} median {median[slug]:6.2f} ms  p90 {p90:6.2f} ms  {sizes[slug]:,} bytes"
        )
    print(
        f"  two years / one month x{median['years'] / median['month']:.2f}, "
        f"two years / 90 days x{median['years'] / median['quarter']:.2f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.public_cpu", description=__doc__)
    parser.add_argument("--write", choices=("rename", "ledger"), default="rename")
    parser.add_argument("--renders", type=int, default=300, help="timed renders per page")
    opts = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="clarion-bench-cpu-") as tmp,
        server.temporary_database("sqlite") as raw_url,
    ):
        engine, seeded = seeded_database(raw_url, Path(tmp), datetime.now(UTC))
        writers = {
            slug: (page, latest_incident(engine, page)) for slug, page in seeded.page_ids.items()
        }
        engine.dispose()
        assert set(writers) == set(PAGES)
        url = Settings(database_url=raw_url).database_url
        return asyncio.run(run(url, writers, opts.write, opts.renders))


if __name__ == "__main__":
    sys.exit(main())
