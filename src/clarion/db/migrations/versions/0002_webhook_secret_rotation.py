"""Webhook signing secrets can be rotated: the previous secret keeps signing until it expires.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clarion.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("previous_signing_secret", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column(
                "previous_secret_expires_at",
                clarion.db.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_signing_secret")
