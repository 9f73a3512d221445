"""Indexes that find a page's open incidents and maintenance windows (now, or at a moment in
the past) and its latest completed windows without scanning its whole history.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESOLVED = sa.text("incident_status <> 'resolved'")
UNFINISHED = sa.text("maintenance_status <> 'maintenance_complete'")


def upgrade() -> None:
    op.create_index(
        "ix_incidents_page_unresolved",
        "incidents",
        ["status_page_id", "published_at", "id"],
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )
    op.create_index("ix_incidents_page_resolved", "incidents", ["status_page_id", "resolved_at"])
    op.create_index(
        "ix_maintenances_page_unfinished",
        "maintenances",
        ["status_page_id", "start_at", "id"],
        sqlite_where=UNFINISHED,
        postgresql_where=UNFINISHED,
    )
    op.create_index(
        "ix_maintenances_page_status_start",
        "maintenances",
        ["status_page_id", "maintenance_status", "start_at", "id"],
    )
    op.create_index(
        "ix_maintenances_page_completed", "maintenances", ["status_page_id", "completed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_maintenances_page_completed", "maintenances")
    op.drop_index("ix_maintenances_page_status_start", "maintenances")
    op.drop_index("ix_maintenances_page_unfinished", "maintenances")
    op.drop_index("ix_incidents_page_resolved", "incidents")
    op.drop_index("ix_incidents_page_unresolved", "incidents")
