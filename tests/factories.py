"""Test data through the same code paths operators use (``apply``, ``keys create``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from clarion.api_keys.service import create_key
from clarion.audit import Actor
from clarion.components.models import Component
from clarion.context import AppContext
from clarion.status_pages.declare import apply_declaration, parse_declaration
from clarion.status_pages.models import StatusPage, StructureItem
from tests.harness import LiveServer

ALL_ROLES = ("viewer", "status_page_publisher", "manage_settings")
#: Who the tests' own set-up writes are made by (as an operator running the CLI would).
OPERATOR = Actor.cli()


def make_key(server: LiveServer, *roles: str, name: str = "test key") -> str:
    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            _key, token = await create_key(
                session, name, list(roles or ALL_ROLES), ctx.clock.now(), actor=OPERATOR
            )
        return token

    return server.call(body)


@dataclass
class PageInfo:
    id: str
    slug: str
    components: dict[str, str]  # key -> component id
    groups: dict[str, str] = field(default_factory=dict)  # name -> group id
    sub_pages: dict[str, str] = field(default_factory=dict)  # name -> sub-page id


def declare(server: LiveServer, declaration: dict[str, Any]) -> list[str]:
    decl = parse_declaration(declaration)

    async def body(ctx: AppContext) -> list[str]:
        async with ctx.db.write() as session:
            return await apply_declaration(session, decl, ctx.clock.now(), actor=OPERATOR)

    return server.call(body)


def make_page(server: LiveServer, *, components: int = 3, with_group: bool = True) -> PageInfo:
    """A fresh page with uniquely-keyed components c0..cN-1 (c0, c1 top level; the rest in a
    group called Regions when ``with_group``) and a sub-page when there are 4 or more."""
    tag = uuid.uuid4().hex[:8]
    keys = [f"c{i}-{tag}" for i in range(components)]
    items: list[dict[str, Any]] = [{"component": k} for k in keys[:2]]
    rest = keys[2:]
    if rest and with_group:
        items.append(
            {
                "group": {
                    "name": "Regions",
                    "components": rest[:2],
                    "display_aggregated_uptime": True,
                }
            }
        )
        rest = rest[2:]
    if rest:
        items.append({"sub_page": {"name": "Sub", "items": [{"component": k} for k in rest]}})
    slug = f"page-{tag}"
    declare(
        server,
        {
            "components": [{"key": k, "name": f"Component {i}"} for i, k in enumerate(keys)],
            "status_pages": [{"slug": slug, "name": f"Page {tag}", "items": items}],
        },
    )

    async def body(ctx: AppContext) -> PageInfo:
        async with ctx.db.read() as session:
            page = await session.scalar(select(StatusPage).where(StatusPage.slug == slug))
            assert page is not None
            comps = (await session.scalars(select(Component).where(Component.key.in_(keys)))).all()
            structure = (
                await session.scalars(
                    select(StructureItem).where(StructureItem.status_page_id == page.id)
                )
            ).all()
        info = PageInfo(id=page.id, slug=slug, components={c.key or "": c.id for c in comps})
        for item in structure:
            if item.kind == "group":
                info.groups[item.name or ""] = item.id
            elif item.kind == "sub_page":
                info.sub_pages[item.name or ""] = item.id
        return info

    return server.call(body)
