"""Fast seeding for the benchmark: bulk inserts through the models' tables.

Each seeded incident looks like a real one: 1 to 3 updates, one or two affected components
with their rows in the component status ledger, and (for resolved incidents) the changes back
to ``operational``. Incidents are spread over the three years before ``now``.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bench import server
from clarion.api_keys.models import ApiKey
from clarion.api_keys.service import hash_token
from clarion.components.models import Component, ComponentStatusChange
from clarion.db.engine import make_sync_engine
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage

IMPACTS = ("degraded_performance", "partial_outage", "full_outage")
STATUSES = ("investigating", "identified", "monitoring", "resolved")
SPAN = timedelta(days=3 * 365)
BATCH = 2_000

DECLARATION = """\
components:
  - {key: api, name: API, description: Public REST API}
  - {key: web, name: Website}
  - {key: dashboard, name: Dashboard}
  - {key: webhooks, name: Webhooks}
  - {key: eu, name: Europe}
  - {key: us, name: United States}
status_pages:
  - slug: bench
    name: Benchmark Cloud
    description: The page the benchmark publishes to
    items:
      - component: api
      - component: web
      - component: dashboard
      - component: webhooks
      - group:
          name: Regions
          components: [eu, us]
  # Incidents created during the run go here, so that the listed page keeps only the seeded
  # incidents (created ones are lighter: one update, one impact).
  - slug: bench-writes
    name: Benchmark Writes
    items:
      - component: api
      - component: web
      - component: dashboard
      - component: webhooks
      - component: eu
      - component: us
"""


@contextlib.contextmanager
def declared_database(
    backend: str, folder: Path, declaration: str = DECLARATION
) -> Iterator[tuple[str, Engine]]:
    """A fresh database of ``backend`` (dropped afterwards), migrated by ``clarion db upgrade``
    and holding what ``clarion apply`` makes of ``declaration`` (written in ``folder``): its URL
    for ``clarion`` and a synchronous engine on it."""
    with server.temporary_database(backend) as raw_url:
        server.run_cli(raw_url, "db", "upgrade")
        path = folder / f"declaration-{backend}.yaml"
        path.write_text(declaration)
        server.run_cli(raw_url, "apply", str(path))
        engine = make_sync_engine(Settings(database_url=raw_url).database_url)
        try:
            yield raw_url, engine
        finally:
            engine.dispose()


@dataclass(frozen=True)
class Page:
    id: str
    component_ids: list[str]


def find_page(engine: Engine, slug: str = "bench") -> Page:
    with engine.connect() as conn:
        page_id = conn.execute(select(StatusPage.id).where(StatusPage.slug == slug)).scalar_one()
        components = list(conn.execute(select(Component.id).order_by(Component.key)).scalars())
    return Page(page_id, components)


def latest_incident(engine: Engine, page_id: str) -> str:
    """The id of the page's most recently published incident."""
    with engine.connect() as conn:
        found: str = conn.execute(
            select(Incident.id)
            .where(Incident.status_page_id == page_id)
            .order_by(Incident.published_at.desc(), Incident.id.desc())
            .limit(1)
        ).scalar_one()
    return found


def create_keys(engine: Engine, count: int, now: datetime) -> list[str]:
    """``count`` publisher keys (one per client); returns their tokens."""
    tokens = [f"clarion_bench_{i:03d}_{new_id().lower()}" for i in range(count)]
    rows = [
        {
            "id": new_id(),
            "name": f"bench client {i}",
            "token_hash": hash_token(token),
            "token_hint": token[:12],
            "roles": ["viewer", "status_page_publisher"],
            "created_at": now,
            "revoked_at": None,
        }
        for i, token in enumerate(tokens)
    ]
    with engine.begin() as conn:
        conn.execute(insert(ApiKey.__table__), rows)
    return tokens


def _incident_rows(
    rng: random.Random, page: Page, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    incident_id = new_id()
    published = now - SPAN * rng.random() - timedelta(minutes=10)
    update_count = rng.randint(1, 3)
    resolved = rng.random() < 0.9
    affected = rng.sample(page.component_ids, rng.randint(1, 2))
    impact = rng.choice(IMPACTS)
    updates: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    at = published
    status = "investigating"
    for n in range(update_count):
        last = n == update_count - 1
        status = "resolved" if last and resolved else STATUSES[min(n, 2)]
        statuses = []
        if n == 0:
            statuses = [{"component_id": c, "component_status": impact} for c in affected]
            for seq, component_id in enumerate(affected, 1):
                changes.append(
                    change_row(page.id, component_id, impact, at, seq, incident_id=incident_id)
                )
        if status == "resolved":
            for seq, component_id in enumerate(affected, 1):
                changes.append(
                    change_row(
                        page.id, component_id, "operational", at, seq, incident_id=incident_id
                    )
                )
        updates.append(
            {
                "id": new_id(),
                "incident_id": incident_id,
                "message": f"Update {n + 1}: we are looking into elevated error rates.",
                "incident_status": status,
                "component_statuses": statuses,
                "notify_subscribers": False,
                "published_at": at,
            }
        )
        at = at + timedelta(minutes=rng.randint(5, 120))
    incident = {
        "id": incident_id,
        "status_page_id": page.id,
        "name": f"Elevated error rates on {len(affected)} component(s)",
        "incident_status": status,
        "published_at": published,
        "resolved_at": updates[-1]["published_at"] if status == "resolved" else None,
        "retrospective": False,
        "update_count": update_count,
        "created_at": published,
        "updated_at": updates[-1]["published_at"],
    }
    return incident, updates, changes


def change_row(
    page_id: str,
    component_id: str,
    status: str,
    at: datetime,
    seq: int,
    *,
    incident_id: str | None = None,
    maintenance_id: str | None = None,
) -> dict[str, Any]:
    """A row of the component status ledger."""
    return {
        "id": new_id(),
        "status_page_id": page_id,
        "component_id": component_id,
        "incident_id": incident_id,
        "maintenance_id": maintenance_id,
        "status": status,
        "occurred_at": at,
        "seq": seq,
    }


def seed_incidents(engine: Engine, page: Page, count: int, now: datetime, seed: int) -> None:
    """Insert ``count`` incidents with their updates and ledger rows, in batches."""
    rng = random.Random(seed)
    done = 0
    while done < count:
        batch = min(BATCH, count - done)
        incidents: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for _ in range(batch):
            incident, its_updates, its_changes = _incident_rows(rng, page, now)
            incidents.append(incident)
            updates.extend(its_updates)
            changes.extend(its_changes)
        with engine.begin() as conn:
            conn.execute(insert(Incident.__table__), incidents)
            conn.execute(insert(IncidentUpdate.__table__), updates)
            conn.execute(insert(ComponentStatusChange.__table__), changes)
        done += batch
    if engine.dialect.name == "postgresql":
        # What autovacuum would do shortly after a bulk load; SQLite is left as users have it.
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------------------------------------
# Pages with a history (the public page benchmark)

#: Pages by slug, each with this much history at the same density, so that only the length of
#: the history differs.
HISTORY = {"month": timedelta(days=30), "years": timedelta(days=730)}
HISTORY_INCIDENTS = 2_000


def history_declaration(slugs: Iterable[str] = HISTORY) -> str:
    """20 components; every page of ``slugs`` shows all of them (4 alone, then 4 groups of
    4)."""
    lines = ["components:"]
    lines += [f"  - {{key: c{i:02d}, name: Component {i:02d}}}" for i in range(20)]
    lines.append("status_pages:")
    for slug in slugs:
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
    """What ``seed_history`` made, per page slug."""

    page_ids: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    maintenances: dict[str, int] = field(default_factory=dict)


def seed_history(
    engine: Engine,
    now: datetime,
    rng: random.Random,
    pages: dict[str, timedelta] = HISTORY,
    per_two_years: int = HISTORY_INCIDENTS,
) -> Seeded:
    """Incidents at the density of ``per_two_years`` per two years (2 or 3 updates each, 1 to 3
    affected components with their ledger rows), and a maintenance window every two weeks
    (completed) plus one upcoming, on each page of ``pages`` over its span of history; the
    newest incident of each page is still open."""
    done = Seeded()
    with engine.connect() as conn:
        components = list(conn.execute(select(Component.id).order_by(Component.key)).scalars())
        for slug in pages:
            done.page_ids[slug] = conn.execute(
                select(StatusPage.id).where(StatusPage.slug == slug)
            ).scalar_one()
    for slug, span in pages.items():
        page_id = done.page_ids[slug]
        count = round(per_two_years * span / timedelta(days=730))
        incidents, updates, changes = [], [], []
        starts = sorted(now - span * rng.random() for _ in range(count))
        for n, published in enumerate(starts):
            incident_id = new_id()
            ongoing = n == count - 1
            affected = rng.sample(components, rng.randint(1, 3))
            impact = rng.choice(IMPACTS)
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
                        change_row(page_id, c, impact, at, i + 1, incident_id=incident_id)
                        for i, c in enumerate(affected)
                    ]
                if status == "resolved":
                    changes += [
                        change_row(page_id, c, "operational", at, i + 1, incident_id=incident_id)
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
            for rows, table in (
                (incidents, Incident.__table__),
                (updates, IncidentUpdate.__table__),
                (changes, ComponentStatusChange.__table__),
            ):
                for start in range(0, len(rows), BATCH):
                    conn.execute(insert(table), rows[start : start + BATCH])
            conn.execute(insert(Maintenance.__table__), windows)
            conn.execute(insert(MaintenanceComponent.__table__), links)
            conn.execute(insert(MaintenanceUpdate.__table__), window_updates)
        done.incidents[slug] = count
        done.maintenances[slug] = len(windows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return done
