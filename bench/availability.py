"""The availability benchmark: ``uv run python -m bench.availability`` (or
``make bench-availability``).

For each backend, in one run:

1. A fresh database with the page of ``seed.DECLARATION``.
2. 5,000 incidents over the last 366 days, each giving the ``api`` component one impact
   (a third each degraded / partial / full outage, 5 to 240 minutes, so many overlap), plus
   20,000 impacts on the page's other components (so the index has to do its job).
3. ``clarion serve`` starts; after a warm-up, one client measures ``GET /healthz`` and
   ``GET /v2/status_pages/{id}`` (baselines: no work, and an authenticated one-row read) and
   the availability of ``api`` over the whole 366 days; then four concurrent clients measure
   the availability again.
"""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bench import client, report, seed, server
from bench.report import Figure, Target
from clarion.components.models import Component, ComponentStatusChange
from clarion.ids import new_id
from clarion.incidents.models import Incident

P99 = Target(20.0)
WINDOW = timedelta(days=366)
TARGET_IMPACTS = 5_000
OTHER_IMPACTS = 20_000


def seed_impacts(
    engine: Engine,
    page: seed.Page,
    component_id: str,
    count: int,
    now: datetime,
    rng: random.Random,
) -> None:
    """``count`` resolved incidents, each with one impact on ``component_id``."""
    incidents: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for _ in range(count):
        incident_id = new_id()
        start = now - WINDOW * rng.random()
        end = start + timedelta(minutes=rng.randint(5, 240))
        incidents.append(
            {
                "id": incident_id,
                "status_page_id": page.id,
                "name": "Backfilled",
                "incident_status": "resolved",
                "published_at": start,
                "resolved_at": end,
                "retrospective": True,
                "update_count": 0,
                "created_at": start,
                "updated_at": end,
            }
        )
        for status, at in ((rng.choice(seed.IMPACTS), start), ("operational", end)):
            changes.append(
                seed.change_row(page.id, component_id, status, at, 1, incident_id=incident_id)
            )
    with engine.begin() as conn:
        for i in range(0, len(incidents), 2_000):
            conn.execute(insert(Incident.__table__), incidents[i : i + 2_000])
        for i in range(0, len(changes), 2_000):
            conn.execute(insert(ComponentStatusChange.__table__), changes[i : i + 2_000])


def run_backend(backend: str, requests: int, log_dir: Path) -> list[Figure]:
    now = datetime.now(UTC)
    rng = random.Random(5_000)
    print(f"\n== availability, {backend} ==", flush=True)
    with seed.declared_database(backend, log_dir) as (raw_url, engine):
        page = seed.find_page(engine)
        with engine.connect() as conn:
            api = conn.execute(select(Component.id).where(Component.key == "api")).scalar_one()
        others = [c for c in page.component_ids if c != api]
        (token,) = seed.create_keys(engine, 1, now)
        # Make the component's data start well before the window.
        with engine.begin() as conn:
            conn.execute(Component.__table__.update().values(created_at=now - timedelta(days=800)))
        seed_impacts(engine, page, api, TARGET_IMPACTS, now, rng)
        for other in others:
            seed_impacts(engine, page, other, OTHER_IMPACTS // len(others), now, rng)
        print(f"  seeded {TARGET_IMPACTS:,} impacts on api, {OTHER_IMPACTS:,} elsewhere")
        if backend == "postgresql":
            # What autovacuum does after a bulk load: without it, index-only scans still visit
            # every heap page of the freshly inserted rows.
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE component_status_changes"
                )
        with server.serve(raw_url, log_dir / f"serve-availability-{backend}.log") as srv:
            host = f"{srv.host}:{srv.port}"
            window = f"start_at={quote((now - WINDOW).isoformat())}&end_at={quote(now.isoformat())}"
            path = f"/v2/status_pages/{page.id}/components/{api}/availability?{window}"
            requests_of = {
                "availability": client.http_request("GET", path, host=host, token=token),
                "healthz": client.http_request("GET", "/healthz", host=host),
                "show page": client.http_request(
                    "GET", f"/v2/status_pages/{page.id}", host=host, token=token
                ),
            }

            def measure(kind: str, clients: int, count: int) -> client.Result:
                request = client.Request(requests_of[kind], kind)
                result = asyncio.run(
                    client.drive(
                        f"{kind}, {clients} client{'s' if clients > 1 else ''}",
                        srv,
                        lambda _i, _s: request,
                        clients=clients,
                        total_requests=count,
                        time_cap=120,
                    )
                )
                print(f"    {result.describe()}", flush=True)
                return result

            measure("availability", 1, 200)  # warm-up
            base = measure("healthz", 1, requests)
            auth = measure("show page", 1, requests)
            one = measure("availability", 1, requests)
            four = measure("availability", 4, requests)
            body = orjson.loads(one.all.first_body)
            if "availability_percent" not in body["availability"]:
                raise RuntimeError(f"the availability response has no percentage: {body}")
    ratios = (
        f"p50 {one.ms(50) / base.ms(50):.1f}x healthz, "
        f"{one.ms(50) / auth.ms(50):.1f}x show status page"
    )
    return [
        Figure(
            "availability p99, 366 days, 5,000 impacts, 1 client",
            backend,
            one.ms(99),
            "ms",
            P99,
            not one.errors,
            ratios,
        ),
        Figure("availability p99, 4 clients", backend, four.ms(99), "ms", ok=not four.errors),
    ]


def run(backends: list[str], log_dir: Path, requests: int = 1_000) -> list[Figure]:
    """Every backend in turn; the figures."""
    return [f for backend in backends for f in run_backend(backend, requests, log_dir)]


def main(argv: list[str] | None = None) -> int:
    cli = report.parser("python -m bench.availability", __doc__)
    cli.add_argument("--requests", type=int, default=1_000, help="per scenario")
    args = cli.parse_args(argv)
    return report.run_and_report(lambda b, folder: run(b, folder, args.requests), args.backend)


if __name__ == "__main__":
    sys.exit(main())
