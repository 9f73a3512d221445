"""Reading the audit log of the live server in tests."""

from __future__ import annotations

import uuid

from clarion.audit.models import AuditEntry
from clarion.audit.service import AuditFilter, list_entries
from clarion.context import AppContext
from tests.factories import make_key
from tests.harness import LiveServer


def entries_where(server: LiveServer, **where: str) -> list[AuditEntry]:
    """Every entry matching ``where`` (``AuditFilter``'s fields), oldest first."""

    async def body(ctx: AppContext) -> list[AuditEntry]:
        async with ctx.db.read() as session:
            rows, _more = await list_entries(session, AuditFilter(**where, limit=10_000))  # type: ignore[arg-type]
        return rows

    return list(reversed(server.call(body)))


def entries_by(server: LiveServer, actor: str) -> list[AuditEntry]:
    """Every entry made by ``actor`` (a name or id), oldest first."""
    return entries_where(server, actor=actor)


def named_key(server: LiveServer, *roles: str, prefix: str = "audited") -> tuple[str, str]:
    """A fresh key with a unique name: (its name, its token)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, make_key(server, *roles, name=name)
