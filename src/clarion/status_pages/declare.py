"""``clarion apply``: make the database match a declaration (``declaration.py`` reads it).

Idempotent: applying the same declaration twice changes nothing. Things are matched by their
``key`` (components; groups and sub-pages may set one, else their name is their key) and pages
by ``slug``, so renaming keeps ids. Everything ``apply`` manages reports
``management_meta.managed_by: external``. Nothing is deleted but structure items, and only on a
page whose entry has ``items``: those are then the page's whole structure. A page entry without
``items`` leaves its structure as it is; components and pages left out of the file are kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.components.models import Component
from clarion.ids import new_id
from clarion.status_pages.declaration import (
    Declaration,
    DeclarationError,
    DesiredItem,
    DesiredPage,
    parse_declaration,
)
from clarion.status_pages.models import StatusPage, StructureItem
from clarion.status_pages.versions import touch_page, touch_pages

__all__ = ["DeclarationError", "apply_declaration", "parse_declaration"]


_ITEM_FIELDS = (
    "kind",
    "position",
    "name",
    "description",
    "hidden",
    "display_uptime",
    "display_aggregated_uptime",
)


async def apply_declaration(
    session: AsyncSession, decl: Declaration, now: datetime, *, actor: Actor
) -> list[str]:
    """Make the database match ``decl``; returns one line per change (empty: nothing changed).

    The lines name things by key and slug only (never a new id), so a dry run, rolled back,
    prints exactly what the real run then prints. Each component and page that changed gets
    an audit entry (``component.apply``, ``page.apply``) naming ``actor``."""
    changes: list[str] = []
    existing = {
        c.key: c
        for c in (await session.scalars(select(Component).where(Component.key.is_not(None)))).all()
        if c.key is not None
    }
    by_key: dict[str, Component] = {}
    renamed: list[str] = []
    for spec in decl.components:
        component = existing.get(spec.key)
        if component is None:
            component = Component(
                id=new_id(),
                key=spec.key,
                name=spec.name,
                description=spec.description,
                managed_by="external",
                archived_at=None,
                created_at=now,
                updated_at=now,
            )
            session.add(component)
            changes.append(f"created component {spec.key}")
            _audit_component(session, actor, component, changes[-1], now)
        else:
            diff = [f for f in ("name", "description") if getattr(component, f) != getattr(spec, f)]
            if component.managed_by != "external":
                diff.append("managed_by")
            if component.archived_at is not None:
                diff.append("archived_at")
            if diff:
                component.name = spec.name
                component.description = spec.description
                component.managed_by = "external"
                component.archived_at = None
                component.updated_at = now
                changes.append(f"updated component {spec.key}: {', '.join(diff)}")
                renamed.append(component.id)
                _audit_component(session, actor, component, changes[-1], now)
        by_key[spec.key] = component
    await session.flush()
    for page_spec in decl.pages:
        changes.extend(await _apply_page(session, page_spec, by_key, now, actor))
    if renamed:
        # Every page that shows a changed component shows its new name from the next request.
        showing = await session.scalars(
            select(StructureItem.status_page_id).where(StructureItem.component_id.in_(renamed))
        )
        touch_pages(session, showing, now)
    return changes


def _audit_component(
    session: AsyncSession, actor: Actor, component: Component, change: str, now: datetime
) -> None:
    audit.record(
        session,
        actor,
        "component.apply",
        object_type="component",
        object_id=component.id,
        at=now,
        summary=change,
        detail={"key": component.key, "name": component.name},
    )


async def _apply_page(
    session: AsyncSession,
    spec: DesiredPage,
    components: dict[str, Component],
    now: datetime,
    actor: Actor,
) -> list[str]:
    changes: list[str] = []
    page = await session.scalar(select(StatusPage).where(StatusPage.slug == spec.slug))
    attrs = {
        "name": spec.name,
        "description": spec.description,
        "display_uptime_mode": spec.display_uptime_mode,
        "custom_domain": spec.custom_domain,
        "time_zone": spec.time_zone,
        "managed_by": "external",
    }
    if page is None:
        page = StatusPage(id=new_id(), slug=spec.slug, created_at=now, updated_at=now, **attrs)
        session.add(page)
        await session.flush()
        changes.append(f"created status page {spec.slug}")
    else:
        diff = [k for k, v in attrs.items() if getattr(page, k) != v]
        if diff:
            for k in diff:
                setattr(page, k, attrs[k])
            changes.append(f"updated status page {spec.slug}: {', '.join(diff)}")
    if spec.items is not None:
        structure = await _apply_structure(session, page.id, spec.items, components)
        if structure:
            changes.append(f"updated structure of status page {spec.slug}: {structure}")
    if changes:
        page.updated_at = now
        touch_page(session, page.id, now)
        audit.record(
            session,
            actor,
            "page.apply",
            object_type="status_page",
            object_id=page.id,
            status_page_id=page.id,
            at=now,
            summary="; ".join(changes),
            detail={"slug": spec.slug, "changes": changes},
        )
        await session.flush()
    return changes


async def _apply_structure(
    session: AsyncSession,
    page_id: str,
    desired_items: list[DesiredItem],
    components: dict[str, Component],
) -> str:
    """Make the page's structure exactly ``desired_items``; returns what changed, in words
    (empty: nothing)."""
    items = {
        i.key: i
        for i in (
            await session.scalars(
                select(StructureItem).where(StructureItem.status_page_id == page_id)
            )
        ).all()
    }
    ids: dict[str, str] = {}
    added: list[str] = []
    changed: list[str] = []
    for desired in desired_items:
        component_id = components[desired.component_key].id if desired.component_key else None
        parent_id = ids[desired.parent_key] if desired.parent_key else None
        row = items.get(desired.key)
        if row is None:
            row = StructureItem(
                id=new_id(),
                status_page_id=page_id,
                parent_id=parent_id,
                key=desired.key,
                component_id=component_id,
                **{f: getattr(desired, f) for f in _ITEM_FIELDS},
            )
            session.add(row)
            added.append(desired.key)
        else:
            wanted = {f: getattr(desired, f) for f in _ITEM_FIELDS}
            wanted["parent_id"] = parent_id
            wanted["component_id"] = component_id
            if any(getattr(row, f) != v for f, v in wanted.items()):
                for f, v in wanted.items():
                    setattr(row, f, v)
                changed.append(desired.key)
        ids[desired.key] = row.id
        await session.flush()
    stale = [row for key, row in items.items() if key not in ids]
    by_id = {row.id: row for row in items.values()}

    def place(row: StructureItem) -> tuple[int, ...]:
        """The positions from the top of the structure down to ``row`` (document order)."""
        parent = by_id.get(row.parent_id or "")
        return (row.position,) if parent is None else (*place(parent), row.position)

    def depth(row: StructureItem) -> int:
        return len(place(row))

    # One flush per level: a flush deletes in its own order, and a parent deleted first
    # would take its children with it (ON DELETE CASCADE) before their own DELETE.
    for level in sorted({depth(row) for row in stale}, reverse=True):
        for row in stale:
            if depth(row) == level:
                await session.delete(row)
        await session.flush()
    removed = [row.key for row in sorted(stale, key=place)]
    parts = [
        f"{verb} {', '.join(_label(key) for key in keys)}"
        for verb, keys in (("added", added), ("changed", changed), ("removed", removed))
        if keys
    ]
    return "; ".join(parts)


def _label(item_key: str) -> str:
    """``sub_page:uk`` → ``sub-page uk``."""
    kind, _, key = item_key.partition(":")
    return f"{kind.replace('_', '-')} {key}"
