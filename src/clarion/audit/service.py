"""Recording writes in the audit log, and reading it back (the CLI and the console).

``record`` adds the entry to the writing session: it is inserted with the write's own rows and
commits or rolls back with them (a failed write leaves no entry; an idempotent replay, which
writes nothing, records nothing). ``detail`` must never hold a secret (an API token, a webhook
signing secret, a password): callers pass only what identifies and describes the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit.actor import Actor
from clarion.audit.models import AuditEntry
from clarion.errors import ValidationFailed
from clarion.ids import new_id

#: Summaries are one short line.
MAX_SUMMARY = 300


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    object_type: str,
    object_id: str,
    at: datetime,
    summary: str,
    status_page_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one entry to ``session`` (inserted at its next flush, in its transaction)."""
    line = " ".join(summary.split())
    if len(line) > MAX_SUMMARY:
        line = line[: MAX_SUMMARY - 1] + "…"
    session.add(
        AuditEntry(
            id=new_id(),
            occurred_at=at,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            status_page_id=status_page_id,
            summary=line,
            detail=dict(detail or {}),
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    """What to list. ``actor``: an actor's name (an API key's name, a user's e-mail,
    ``cli:alice``, ``system:automation``) or id; ``object``: an object type (``incident``)
    or id; ``since`` inclusive, ``until`` exclusive; ``before``: an entry id (the next page
    of a newest-first listing)."""

    actor: str | None = None
    object: str | None = None
    status_page_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: str | None = None
    limit: int = 100


def _query(where: AuditFilter) -> Select[Any]:
    query = select(AuditEntry)
    if where.actor is not None:
        query = query.where(
            or_(AuditEntry.actor_name == where.actor, AuditEntry.actor_id == where.actor)
        )
    if where.object is not None:
        query = query.where(
            or_(AuditEntry.object_type == where.object, AuditEntry.object_id == where.object)
        )
    if where.status_page_id is not None:
        query = query.where(AuditEntry.status_page_id == where.status_page_id)
    if where.action is not None:
        query = query.where(AuditEntry.action == where.action)
    if where.since is not None:
        query = query.where(AuditEntry.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.occurred_at < where.until)
    return query


async def list_entries(session: AsyncSession, where: AuditFilter) -> tuple[list[AuditEntry], bool]:
    """Entries matching ``where``, newest first (``occurred_at``, then id), at most
    ``where.limit``; and whether there are more (the next page: ``before`` = the last id)."""
    query = _query(where)
    if where.before is not None:
        anchor = await session.get(AuditEntry, where.before)
        if anchor is None:
            raise ValidationFailed.at(
                "invalid_cursor", "before does not name an audit log entry", "before"
            )
        query = query.where(
            (AuditEntry.occurred_at < anchor.occurred_at)
            | ((AuditEntry.occurred_at == anchor.occurred_at) & (AuditEntry.id < anchor.id))
        )
    query = query.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    rows: list[AuditEntry] = list(await session.scalars(query.limit(where.limit + 1)))
    return rows[: where.limit], len(rows) > where.limit


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain JSON-ready values (``--json``, the console)."""
    from clarion.timeutil import format_ts

    body: dict[str, Any] = {
        "id": entry.id,
        "occurred_at": format_ts(entry.occurred_at),
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id, "name": entry.actor_name},
        "action": entry.action,
        "object": {"type": entry.object_type, "id": entry.object_id},
        "summary": entry.summary,
        "detail": entry.detail,
    }
    if entry.status_page_id is not None:
        body["status_page_id"] = entry.status_page_id
    return body
