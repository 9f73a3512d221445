"""``pending_page_bumps``: a write inserts the pages whose ``content_version`` it moves, and a
trigger bumps them and deletes the rows. On PostgreSQL the trigger is deferred to commit, so
that the page's row is locked only inside the server's commit (before, the ``UPDATE`` held it
from the end of the transaction until the client sent ``COMMIT``, a full turn of a busy event
loop later, and concurrent writes to one page queued behind each other).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.base import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY = (
    "UPDATE status_pages SET content_version = content_version + 1, updated_at = NEW.bumped_at "
    "WHERE id = NEW.status_page_id; DELETE FROM pending_page_bumps WHERE id = NEW.id;"
)
POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION apply_page_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {APPLY}
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "pending_page_bumps",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("status_page_id", sa.String(length=26), nullable=False),
        sa.Column("bumped_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_page_bumps")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(
            "CREATE CONSTRAINT TRIGGER pending_page_bumps_apply AFTER INSERT ON "
            "pending_page_bumps DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION apply_page_bump()"
        )
        return
    op.execute(
        "CREATE TRIGGER pending_page_bumps_apply AFTER INSERT ON pending_page_bumps "
        f"FOR EACH ROW BEGIN {APPLY} END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER pending_page_bumps_apply ON pending_page_bumps")
        op.execute("DROP FUNCTION apply_page_bump()")
    else:
        op.execute("DROP TRIGGER pending_page_bumps_apply")
    op.drop_table("pending_page_bumps")
