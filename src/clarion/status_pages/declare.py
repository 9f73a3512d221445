"""``clarion apply``: declare components, status pages and their structure from YAML.

Idempotent: applying the same file twice changes nothing. Things are matched by their ``key``
(components; groups and sub-pages may set one, else their name is their key) and pages by
``slug``, so renaming keeps ids. Everything ``apply`` manages reports
``management_meta.managed_by: external``. Nothing is deleted except structure items that the
file no longer lists; components left out of the file are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.models import Component
from clarion.ids import new_id
from clarion.status_pages.models import StatusPage, StructureItem
from clarion.status_pages.versions import touch_page, touch_pages

UPTIME_MODES = ("chart_and_percentage", "chart_only", "nothing")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
RESERVED_SLUGS = {
    "v1",
    "v2",
    "api",
    "healthz",
    "openapi.json",
    "static",
    "subscriptions",
    "assets",
    "subscribe",
    "unsubscribe",
    "preferences",
}


class DeclarationError(ValueError):
    """The file is not a valid declaration; the message says where."""


@dataclass
class DesiredItem:
    key: str
    kind: str
    parent_key: str | None
    position: int
    component_key: str | None = None
    name: str | None = None
    description: str | None = None
    hidden: bool = False
    display_uptime: bool = True
    display_aggregated_uptime: bool = False


@dataclass
class DesiredPage:
    slug: str
    name: str
    description: str | None
    display_uptime_mode: str
    custom_domain: str | None
    time_zone: str
    items: list[DesiredItem] = field(default_factory=list)


@dataclass
class Declaration:
    components: list[dict[str, Any]]
    pages: list[DesiredPage]


def _str(value: Any, where: str, *, required: bool = True, max_length: int = 200) -> str | None:
    if value is None:
        if required:
            raise DeclarationError(f"{where} is required")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise DeclarationError(f"{where} must be a string")
    text = str(value).strip()
    if required and not text:
        raise DeclarationError(f"{where} must not be blank")
    if len(text) > max_length:
        raise DeclarationError(f"{where} must be at most {max_length} characters")
    return text or None


def _bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise DeclarationError(f"{where} must be true or false")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DeclarationError(f"{where} must be a mapping")
    return value


def parse_declaration(data: Any) -> Declaration:
    """Validate the YAML document; raises ``DeclarationError`` naming the bad entry."""
    if data is None:
        data = {}
    root = _mapping(data, "the file")
    unknown = set(root) - {"components", "status_pages"}
    if unknown:
        raise DeclarationError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    components: list[dict[str, Any]] = []
    keys: set[str] = set()
    for index, raw in enumerate(root.get("components") or []):
        where = f"components[{index}]"
        entry = _mapping(raw, where)
        key = _str(entry.get("key"), f"{where}.key", max_length=200)
        assert key is not None
        if key in keys:
            raise DeclarationError(f"{where}.key {key!r} is declared twice")
        keys.add(key)
        components.append(
            {
                "key": key,
                "name": _str(entry.get("name", key), f"{where}.name"),
                "description": _str(
                    entry.get("description"),
                    f"{where}.description",
                    required=False,
                    max_length=4096,
                ),
            }
        )
    pages: list[DesiredPage] = []
    slugs: set[str] = set()
    domains: set[str] = set()
    for index, raw in enumerate(root.get("status_pages") or []):
        where = f"status_pages[{index}]"
        entry = _mapping(raw, where)
        slug = _str(entry.get("slug"), f"{where}.slug", max_length=100)
        assert slug is not None
        if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
            raise DeclarationError(
                f"{where}.slug {slug!r} must be lowercase letters, digits and dashes"
                " (and not reserved)"
            )
        if slug in slugs:
            raise DeclarationError(f"{where}.slug {slug!r} is declared twice")
        slugs.add(slug)
        mode = entry.get("display_uptime_mode", "chart_and_percentage")
        if mode not in UPTIME_MODES:
            raise DeclarationError(
                f"{where}.display_uptime_mode must be one of {', '.join(UPTIME_MODES)}"
            )
        page = DesiredPage(
            slug=slug,
            name=_str(entry.get("name", slug), f"{where}.name") or slug,
            description=_str(
                entry.get("description"), f"{where}.description", required=False, max_length=4096
            ),
            display_uptime_mode=mode,
            custom_domain=(
                _str(
                    entry.get("custom_domain"),
                    f"{where}.custom_domain",
                    required=False,
                    max_length=255,
                )
                or ""
            ).lower()
            or None,
            time_zone=_str(entry.get("time_zone", "Etc/UTC"), f"{where}.time_zone", max_length=64)
            or "Etc/UTC",
        )
        _check_time_zone(page.time_zone, f"{where}.time_zone")
        if page.custom_domain is not None:
            if page.custom_domain in domains:
                raise DeclarationError(
                    f"{where}.custom_domain {page.custom_domain!r} is declared twice"
                )
            domains.add(page.custom_domain)
        _parse_items(
            entry.get("items") or [], f"{where}.items", None, page, keys, allow_sub_pages=True
        )
        pages.append(page)
    return Declaration(components=components, pages=pages)


def _check_time_zone(name: str, where: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeclarationError(
            f"{where} {name!r} is not a time zone name such as Europe/London"
        ) from None


def _component_item(
    raw: Any, where: str, parent: str | None, position: int, known: set[str]
) -> DesiredItem:
    if isinstance(raw, str):
        raw = {"key": raw}
    entry = _mapping(raw, where)
    key = _str(entry.get("key"), f"{where}.key")
    assert key is not None
    if key not in known:
        raise DeclarationError(f"{where} names unknown component {key!r}")
    return DesiredItem(
        key=f"component:{key}",
        kind="component",
        parent_key=parent,
        position=position,
        component_key=key,
        hidden=_bool(entry.get("hidden"), f"{where}.hidden", False),
        display_uptime=_bool(entry.get("display_uptime"), f"{where}.display_uptime", True),
    )


def _parse_items(
    raws: Any,
    where: str,
    parent: str | None,
    page: DesiredPage,
    known: set[str],
    *,
    allow_sub_pages: bool,
) -> None:
    if not isinstance(raws, list):
        raise DeclarationError(f"{where} must be a list")
    seen = {i.key for i in page.items}
    for index, raw in enumerate(raws):
        at = f"{where}[{index}]"
        entry = _mapping(raw, at)
        kinds = [k for k in ("component", "group", "sub_page") if k in entry]
        if len(kinds) != 1:
            raise DeclarationError(f"{at} must have exactly one of component, group, sub_page")
        kind = kinds[0]
        position = len([i for i in page.items if i.parent_key == parent])
        if kind == "component":
            item = _component_item(entry["component"], f"{at}.component", parent, position, known)
            _add(page, item, seen, at)
            continue
        body = _mapping(entry[kind], f"{at}.{kind}")
        name = _str(body.get("name"), f"{at}.{kind}.name")
        assert name is not None
        key = f"{kind}:" + (_str(body.get("key"), f"{at}.{kind}.key", required=False) or name)
        if kind == "sub_page" and not allow_sub_pages:
            raise DeclarationError(f"{at}: sub-pages cannot be nested")
        item = DesiredItem(
            key=key,
            kind=kind,
            parent_key=parent,
            position=position,
            name=name,
            description=_str(
                body.get("description"), f"{at}.{kind}.description", required=False, max_length=4096
            ),
            hidden=_bool(body.get("hidden"), f"{at}.{kind}.hidden", False),
            display_aggregated_uptime=_bool(
                body.get("display_aggregated_uptime"),
                f"{at}.{kind}.display_aggregated_uptime",
                False,
            ),
        )
        _add(page, item, seen, at)
        if kind == "group":
            members = body.get("components") or []
            if not isinstance(members, list):
                raise DeclarationError(f"{at}.group.components must be a list")
            for m_index, member in enumerate(members):
                child = _component_item(
                    member, f"{at}.group.components[{m_index}]", key, m_index, known
                )
                _add(page, child, seen, at)
        else:
            _parse_items(
                body.get("items") or [],
                f"{at}.sub_page.items",
                key,
                page,
                known,
                allow_sub_pages=False,
            )


def _add(page: DesiredPage, item: DesiredItem, seen: set[str], where: str) -> None:
    if item.key in seen:
        raise DeclarationError(f"{where}: {item.key!r} appears twice on page {page.slug!r}")
    seen.add(item.key)
    page.items.append(item)


_ITEM_FIELDS = (
    "kind",
    "position",
    "name",
    "description",
    "hidden",
    "display_uptime",
    "display_aggregated_uptime",
)


async def apply_declaration(session: AsyncSession, decl: Declaration, now: datetime) -> list[str]:
    """Make the database match ``decl``; returns one line per change (empty: nothing changed)."""
    changes: list[str] = []
    existing = {
        c.key: c
        for c in (await session.scalars(select(Component).where(Component.key.is_not(None)))).all()
        if c.key is not None
    }
    by_key: dict[str, Component] = {}
    renamed: list[str] = []
    for spec in decl.components:
        component = existing.get(spec["key"])
        if component is None:
            component = Component(
                id=new_id(),
                key=spec["key"],
                name=spec["name"],
                description=spec["description"],
                managed_by="external",
                archived_at=None,
                created_at=now,
                updated_at=now,
            )
            session.add(component)
            changes.append(f"created component {spec['key']} ({component.id})")
        else:
            diff = [f for f in ("name", "description") if getattr(component, f) != spec[f]]
            if component.managed_by != "external":
                diff.append("managed_by")
            if component.archived_at is not None:
                diff.append("archived_at")
            if diff:
                component.name = spec["name"]
                component.description = spec["description"]
                component.managed_by = "external"
                component.archived_at = None
                component.updated_at = now
                changes.append(f"updated component {spec['key']}: {', '.join(diff)}")
                renamed.append(component.id)
        by_key[spec["key"]] = component
    await session.flush()
    for page_spec in decl.pages:
        changes.extend(await _apply_page(session, page_spec, by_key, now))
    if renamed:
        # Every page that shows a changed component shows its new name from the next request.
        showing = await session.scalars(
            select(StructureItem.status_page_id).where(StructureItem.component_id.in_(renamed))
        )
        touch_pages(session, showing, now)
    return changes


async def _apply_page(
    session: AsyncSession, spec: DesiredPage, components: dict[str, Component], now: datetime
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
        changes.append(f"created status page {spec.slug} ({page.id})")
    else:
        diff = [k for k, v in attrs.items() if getattr(page, k) != v]
        if diff:
            for k in diff:
                setattr(page, k, attrs[k])
            changes.append(f"updated status page {spec.slug}: {', '.join(diff)}")
    items = {
        i.key: i
        for i in (
            await session.scalars(
                select(StructureItem).where(StructureItem.status_page_id == page.id)
            )
        ).all()
    }
    ids: dict[str, str] = {}
    structure_changed = False
    for desired in spec.items:
        component_id = components[desired.component_key].id if desired.component_key else None
        parent_id = ids[desired.parent_key] if desired.parent_key else None
        row = items.get(desired.key)
        if row is None:
            row = StructureItem(
                id=new_id(),
                status_page_id=page.id,
                parent_id=parent_id,
                key=desired.key,
                component_id=component_id,
                **{f: getattr(desired, f) for f in _ITEM_FIELDS},
            )
            session.add(row)
            structure_changed = True
        else:
            wanted = {f: getattr(desired, f) for f in _ITEM_FIELDS}
            wanted["parent_id"] = parent_id
            wanted["component_id"] = component_id
            if any(getattr(row, f) != v for f, v in wanted.items()):
                for f, v in wanted.items():
                    setattr(row, f, v)
                structure_changed = True
        ids[desired.key] = row.id
        await session.flush()
    stale = [row for key, row in items.items() if key not in ids]
    # Children before parents, so foreign keys never point at a deleted row.
    stale.sort(key=lambda r: r.parent_id is None)
    for row in stale:
        await session.delete(row)
        structure_changed = True
    await session.flush()
    if structure_changed:
        changes.append(f"updated structure of status page {spec.slug}")
    if changes:
        page.updated_at = now
        touch_page(session, page.id, now)
        await session.flush()
    return changes
