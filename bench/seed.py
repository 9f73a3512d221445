"""Fast seeding for the benchmark: bulk inserts through the models' tables.

Each seeded incident looks like a real one: 1 to 3 updates, one or two affected components
with their rows in the component status ledger, and (for resolved incidents) the changes back
to ``operational``. Incidents are spread over the three years before ``now``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from clarion.api_keys.models import ApiKey
from clarion.api_keys.service import hash_token
from clarion.components.models import Component, ComponentStatusChange
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
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


@dataclass(frozen=True)
class Page:
    id: str
    component_ids: list[str]


def find_page(engine: Engine, slug: str = "bench") -> Page:
    with engine.connect() as conn:
        page_id = conn.execute(select(StatusPage.id).where(StatusPage.slug == slug)).scalar_one()
        components = list(conn.execute(select(Component.id).order_by(Component.key)).scalars())
    return Page(page_id, components)


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
                changes.append(change_row(page, component_id, incident_id, impact, at, seq))
        if status == "resolved":
            for seq, component_id in enumerate(affected, 1):
                changes.append(change_row(page, component_id, incident_id, "operational", at, seq))
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
    page: Page, component_id: str, incident_id: str, status: str, at: datetime, seq: int
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "status_page_id": page.id,
        "component_id": component_id,
        "incident_id": incident_id,
        "maintenance_id": None,
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
