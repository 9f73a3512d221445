"""A status page's content version becomes the count of its ``status_page_versions`` rows.

Before, every write bumped ``status_pages.content_version`` (through ``pending_page_bumps`` and a
trigger) and the ledger's triggers bumped ``status_pages.ledger_version``: every write to a page
updated that page's row, and concurrent writes queued on its lock. Now a write adds a row to
``status_page_versions`` and the version is ``versions_folded`` plus the number of those rows
(``StatusPage.content_version``). Existing pages keep their current version.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from ulid import ULID

from clarion.db.base import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_TRIGGERS_SQLITE = ("insert", "update", "delete")


def _drop_version_triggers(postgresql: bool) -> None:
    if postgresql:
        op.execute("DROP TRIGGER pending_page_bumps_apply ON pending_page_bumps")
        op.execute("DROP FUNCTION apply_page_bump()")
        op.execute(
            "DROP TRIGGER component_status_changes_ledger_version ON component_status_changes"
        )
        op.execute("DROP FUNCTION bump_ledger_version()")
        return
    op.execute("DROP TRIGGER pending_page_bumps_apply")
    for name in LEDGER_TRIGGERS_SQLITE:
        op.execute(f"DROP TRIGGER component_status_changes_ledger_version_{name}")


def upgrade() -> None:
    bind = op.get_bind()
    _drop_version_triggers(bind.dialect.name == "postgresql")
    op.drop_table("pending_page_bumps")
    versions = op.create_table(
        "status_page_versions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("status_page_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["status_page_id"],
            ["status_pages.id"],
            name=op.f("fk_status_page_versions_status_page_id_status_pages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_page_versions")),
    )
    assert versions is not None
    op.create_index(
        "ix_status_page_versions_page", "status_page_versions", ["status_page_id", "created_at"]
    )
    with op.batch_alter_table("status_pages") as batch:
        batch.add_column(
            sa.Column("versions_folded", sa.Integer(), nullable=False, server_default="0")
        )
    pages = sa.table(
        "status_pages",
        sa.column("id", sa.String),
        sa.column("content_version", sa.Integer),
        sa.column("versions_folded", sa.Integer),
        sa.column("updated_at", UTCDateTime()),
    )
    rows = bind.execute(sa.select(pages.c.id, pages.c.content_version, pages.c.updated_at)).all()
    if rows:
        # One row stands for the page's current version; the rest are folded.
        op.bulk_insert(
            versions,
            [{"id": str(ULID()), "status_page_id": r.id, "created_at": r.updated_at} for r in rows],
        )
        op.execute(pages.update().values(versions_folded=pages.c.content_version - 1))
    with op.batch_alter_table("status_pages") as batch:
        batch.drop_column("content_version")
        batch.drop_column("ledger_version")


def downgrade() -> None:
    with op.batch_alter_table("status_pages") as batch:
        batch.add_column(
            sa.Column("content_version", sa.Integer(), nullable=False, server_default="1")
        )
    op.execute(
        "UPDATE status_pages SET content_version = versions_folded + (SELECT count(*) FROM "
        "status_page_versions v WHERE v.status_page_id = status_pages.id)"
    )
    with op.batch_alter_table("status_pages") as batch:
        batch.drop_column("versions_folded")
    op.drop_index("ix_status_page_versions_page", table_name="status_page_versions")
    op.drop_table("status_page_versions")
    # ``ledger_version``, ``pending_page_bumps`` and their triggers, as revisions 0004 and
    # 0005 made them.
    _sibling("0004_ledger_version").upgrade()
    _sibling("0005_pending_page_bumps").upgrade()


def _sibling(stem: str) -> Any:
    """Another revision's module (Alembic loads revisions by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(
        f"clarion_revision_{stem}", Path(__file__).with_name(f"{stem}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
