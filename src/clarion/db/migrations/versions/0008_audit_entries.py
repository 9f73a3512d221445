"""The audit log: ``audit_entries``, one row per write (who, what, which object, when).

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.base import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_audit_entries_occurred": ["occurred_at", "id"],
    "ix_audit_entries_actor_name": ["actor_name", "occurred_at"],
    "ix_audit_entries_actor_id": ["actor_id", "occurred_at"],
    "ix_audit_entries_object_id": ["object_id", "occurred_at"],
    "ix_audit_entries_object_type": ["object_type", "occurred_at"],
    "ix_audit_entries_page": ["status_page_id", "occurred_at"],
}


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("actor_name", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("status_page_id", sa.String(length=26), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_entries", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="audit_entries")
    op.drop_table("audit_entries")
