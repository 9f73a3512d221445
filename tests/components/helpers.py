"""Placing components on pages directly (there is no API for structures)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select

from clarion.context import AppContext
from clarion.ids import new_id
from clarion.status_pages.models import StructureItem
from tests.harness import LiveServer


def place(server: LiveServer, page_id: str, component_id: str) -> str:
    """Put the component at the end of the page's top level; returns the structure item id."""

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            last = await session.scalar(
                select(func.max(StructureItem.position)).where(
                    StructureItem.status_page_id == page_id
                )
            )
            item = StructureItem(
                id=new_id(),
                status_page_id=page_id,
                parent_id=None,
                key=f"placed-{uuid.uuid4().hex[:8]}",
                kind="component",
                position=(last or 0) + 1,
                component_id=component_id,
            )
            session.add(item)
            return item.id

    return server.call(body)


def unplace(server: LiveServer, item_id: str) -> None:
    async def body(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await session.execute(delete(StructureItem).where(StructureItem.id == item_id))

    server.call(body)
