"""``status_pages.ledger_version``: bumped by triggers whenever a row of the page's status ledger
is added, changed or removed (by any statement, cascades included), so that what was derived
from the ledger (the public uptime bars' window) can be kept while it holds. On PostgreSQL the
trigger is deferred to commit (SQLite's writers take turns anyway).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE status_pages SET ledger_version = ledger_version + 1 WHERE id = {row}.status_page_id"
#: SQLite: one trigger per event; ``{row}`` is NEW or OLD.
SQLITE_TRIGGERS = {
    "insert": ("INSERT", ("NEW",)),
    "update": ("UPDATE", ("OLD", "NEW")),
    "delete": ("DELETE", ("OLD",)),
}
POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION bump_ledger_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {BUMP.format(row="OLD")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {BUMP.format(row="NEW")};
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("status_pages") as batch:
        batch.add_column(
            sa.Column("ledger_version", sa.Integer(), nullable=False, server_default="0")
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        # Deferred to commit: the UPDATE locks the page's row until the transaction ends, and
        # every write to the page waits for that lock, so it is taken as late as possible
        # (as ``bump_content_version`` does for the content version).
        op.execute(
            "CREATE CONSTRAINT TRIGGER component_status_changes_ledger_version AFTER INSERT OR "
            "UPDATE OR DELETE ON component_status_changes DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION bump_ledger_version()"
        )
        return
    for name, (event, rows) in SQLITE_TRIGGERS.items():
        bumps = " ".join(BUMP.format(row=row) + ";" for row in rows)
        op.execute(
            f"CREATE TRIGGER component_status_changes_ledger_version_{name} AFTER {event} "
            f"ON component_status_changes FOR EACH ROW BEGIN {bumps} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP TRIGGER component_status_changes_ledger_version ON component_status_changes"
        )
        op.execute("DROP FUNCTION bump_ledger_version()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER component_status_changes_ledger_version_{name}")
    with op.batch_alter_table("status_pages") as batch:
        batch.drop_column("ledger_version")
