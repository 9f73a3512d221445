"""Availability benchmark: one component with 5,000 impacts, a 366-day window.

``uv run python -m bench.bench_availability [--backend sqlite|postgresql|both]``

For each backend, in one run:

1. A fresh database; ``clarion db upgrade`` and ``clarion apply`` (the core benchmark's page).
2. 5,000 incidents over the last 366 days, each giving the ``api`` component one impact
   (a third each degraded / partial / full outage, 5 to 240 minutes, so many overlap), plus
   20,000 impacts on the page's other components (so the index has to do its job).
3. ``clarion serve`` starts; after a warm-up, the load driver measures ``GET /healthz`` and
   ``GET /v2/status_pages/{id}`` (baselines: no work, and an authenticated one-row read) and the
   availability of ``api`` over the whole 366 days, with 1 client (the
   latency target: p99 < 20 ms) and with 4 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import insert, select

from bench import client, seed, server
from clarion.components.models import Component, ComponentStatusChange
from clarion.db.engine import make_sync_engine
from clarion.ids import new_id
from clarion.incidents.models import Incident
from clarion.settings import Settings

P99_TARGET_MS = 20.0
WINDOW = timedelta(days=366)
TARGET_IMPACTS = 5_000
OTHER_IMPACTS = 20_000
IMPACTS = ("degraded_performance", "partial_outage", "full_outage")


def seed_impacts(
    engine: Any, page: seed.Page, component_id: str, count: int, now: datetime, rng: random.Random
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
        for status, at in ((rng.choice(IMPACTS), start), ("operational", end)):
            changes.append(seed.change_row(page, component_id, incident_id, status, at, 1))
    with engine.begin() as conn:
        for i in range(0, len(incidents), 2_000):
            conn.execute(insert(Incident.__table__), incidents[i : i + 2_000])
        for i in range(0, len(changes), 2_000):
            conn.execute(insert(ComponentStatusChange.__table__), changes[i : i + 2_000])


def run_backend(backend: str, requests: int, log_dir: Path) -> dict[str, client.Result]:
    results: dict[str, client.Result] = {}
    now = datetime.now(UTC)
    rng = random.Random(5_000)
    print(f"\n== {backend} ==", flush=True)
    with server.temporary_database(backend) as raw_url:
        url = Settings(database_url=raw_url).database_url
        server.run_cli(raw_url, "db", "upgrade")
        decl = log_dir / "bench-page.yaml"
        decl.write_text(seed.DECLARATION)
        server.run_cli(raw_url, "apply", str(decl))
        engine = make_sync_engine(url)
        page = seed.find_page(engine)
        with engine.connect() as conn:
            api = conn.execute(select(Component.id).where(Component.key == "api")).scalar_one()
        others = [c for c in page.component_ids if c != api]
        (token,) = seed.create_keys(engine, 1, now)
        # Make the component's data start well before the window.
        with engine.begin() as conn:
            conn.execute(Component.__table__.update().values(created_at=now - timedelta(days=800)))
        seed_impacts(engine, page, api, TARGET_IMPACTS, now, rng)
        per_other = OTHER_IMPACTS // len(others)
        for other in others:
            seed_impacts(engine, page, other, per_other, now, rng)
        print(f"  seeded {TARGET_IMPACTS:,} impacts on api, {OTHER_IMPACTS:,} elsewhere")
        if backend == "postgresql":
            # What autovacuum does after a bulk load: without it, index-only scans still visit
            # every heap page of the freshly inserted rows.
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE component_status_changes"
                )
        engine.dispose()
        host = "127.0.0.1"
        with server.serve(raw_url, log_dir / f"bench-availability-{backend}.log") as srv:
            start = quote((now - WINDOW).isoformat())
            end = quote(now.isoformat())
            path = (
                f"/v2/status_pages/{page.id}/components/{api}/availability"
                f"?start_at={start}&end_at={end}"
            )
            raw = client.http_request("GET", path, host=f"{host}:{srv.port}", token=token)
            health = client.http_request("GET", "/healthz", host=f"{host}:{srv.port}")
            show_page = client.http_request(
                "GET", f"/v2/status_pages/{page.id}", host=f"{host}:{srv.port}", token=token
            )

            def measure(
                name: str, make: Callable[[int, int], bytes], clients: int, count: int
            ) -> client.Result:
                result = asyncio.run(
                    client.drive(
                        name,
                        srv.host,
                        srv.port,
                        make,
                        clients=clients,
                        total_requests=count,
                        time_cap=120,
                        server_pid=srv.pid,
                    )
                )
                print(
                    f"  {name:<28} p50 {result.ms(50):7.2f}  p95 {result.ms(95):7.2f}  "
                    f"p99 {result.ms(99):7.2f} ms  errors {result.errors or 0}",
                    flush=True,
                )
                return result

            measure("warmup", lambda _i, _s: raw, 1, 200)
            results["healthz, 1 client"] = measure(
                "healthz, 1 client", lambda _i, _s: health, 1, requests
            )
            results["show page, 1 client"] = measure(
                "show page, 1 client", lambda _i, _s: show_page, 1, requests
            )
            results["availability, 1 client"] = measure(
                "availability, 1 client", lambda _i, _s: raw, 1, requests
            )
            results["availability, 4 clients"] = measure(
                "availability, 4 clients", lambda _i, _s: raw, 4, requests
            )
            body = orjson.loads(results["availability, 1 client"].first_body)
            print(f"  response: {body['availability']}")
            if "availability_percent" not in body["availability"]:
                raise RuntimeError("the availability response has no percentage")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    ok = True
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        for backend in backends:
            results = run_backend(backend, args.requests, Path(tmp))
            one = results["availability, 1 client"]
            base = results["healthz, 1 client"]
            auth = results["show page, 1 client"]
            met = one.ms(99) < P99_TARGET_MS
            ok = ok and met
            print(
                f"  {backend}: p99 {one.ms(99):.2f} ms (target < {P99_TARGET_MS:.0f} ms: "
                f"{'met' if met else 'MISSED'}); p50 is {one.ms(50) / base.ms(50):.1f}x healthz, "
                f"{one.ms(50) / auth.ms(50):.1f}x show-page (an authenticated one-row read)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
