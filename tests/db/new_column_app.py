"""Run as a process of its own (``python -m tests.db.new_column_app DATABASE_URL``): a column
with a default is added to the incidents model, as a developer adding a feature would, and
nothing else is changed. Clarion is then driven over HTTP through the SDK: a create stores the
model's default, and creates and lists answer as before. Prints one JSON line of what it saw.

The database column has no default of its own (SQLite: a trigger refuses a row without a value;
PostgreSQL: NOT NULL on the empty table), so only a write path that applies the model's
defaults can store the row."""

from __future__ import annotations

import json
import sys

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_page_incidents as list_incidents,
)
from sqlalchemy import String
from sqlalchemy.orm import mapped_column

from clarion.db.engine import make_sync_engine
from clarion.db.migrate import upgrade
from clarion.incidents.models import Incident

Incident.severity = mapped_column(String(16), default="minor", nullable=False)  # type: ignore[attr-defined]


def _add_column(url: str) -> None:
    engine = make_sync_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("ALTER TABLE incidents ADD COLUMN severity VARCHAR(16)")
            connection.exec_driver_sql(
                "CREATE TRIGGER incidents_need_severity BEFORE INSERT ON incidents "
                "WHEN NEW.severity IS NULL BEGIN SELECT RAISE(ABORT, 'severity missing'); END"
            )
        else:
            connection.exec_driver_sql(
                "ALTER TABLE incidents ADD COLUMN severity VARCHAR(16) NOT NULL"
            )
    engine.dispose()


def main(url: str) -> None:
    from tests.factories import make_key, make_page
    from tests.harness import live_server
    from tests.subscribers.helpers import create_incident

    upgrade(url)
    _add_column(url)
    with live_server(url) as server:
        page = make_page(server, components=1)
        component = next(iter(page.components.values()))
        with AuthenticatedClient(base_url=server.base_url, token=make_key(server)) as sdk:
            # Asserts the 201: the process fails otherwise.
            create_incident(
                sdk, page.id, "With a new column", components={component: "partial_outage"}
            )
            listed = list_incidents.sync_detailed(client=sdk, status_page_id=page.id)
        engine = make_sync_engine(url)
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT name, severity FROM incidents").all()
        engine.dispose()
    parsed = listed.parsed
    print(
        json.dumps(
            {
                "listed": listed.status_code,
                "names": [i.name for i in parsed.status_page_incidents] if parsed else [],
                "stored": [list(row) for row in stored],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
