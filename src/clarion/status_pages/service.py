"""Reading status pages and their structure."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.models import Component
from clarion.errors import NotFound
from clarion.status_pages.models import StatusPage, StructureItem


@dataclass
class StructureNode:
    """A structure item with its component (for components) and children (groups, sub-pages)."""

    item: StructureItem
    component: Component | None = None
    children: list[StructureNode] = field(default_factory=list)


async def list_pages(
    session: AsyncSession, limit: int, after: str | None
) -> tuple[list[StatusPage], bool]:
    """Pages ordered by name then id; ``after`` is a page id."""
    query = select(StatusPage).order_by(StatusPage.name, StatusPage.id)
    if after is not None:
        anchor = await session.get(StatusPage, after)
        if anchor is None:
            from clarion.errors import ValidationFailed

            raise ValidationFailed.at(
                "invalid_cursor", "after does not name a status page", "after"
            )
        query = query.where(
            (StatusPage.name > anchor.name)
            | ((StatusPage.name == anchor.name) & (StatusPage.id > anchor.id))
        )
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    return rows[:limit], len(rows) > limit


async def get_page(session: AsyncSession, page_id: str) -> StatusPage:
    page = await session.get(StatusPage, page_id)
    if page is None:
        raise NotFound("No status page with this id")
    return page


async def find_page(session: AsyncSession, page_id: str) -> StatusPage | None:
    return await session.get(StatusPage, page_id)


async def page_by_slug(session: AsyncSession, slug: str) -> StatusPage | None:
    return await session.scalar(select(StatusPage).where(StatusPage.slug == slug))


async def page_by_domain(session: AsyncSession, domain: str) -> StatusPage | None:
    return await session.scalar(select(StatusPage).where(StatusPage.custom_domain == domain))


async def load_structure(session: AsyncSession, page_id: str) -> list[StructureNode]:
    """The page's items as a tree, in display order (archived components left out)."""
    rows = (
        await session.execute(
            select(StructureItem, Component)
            .outerjoin(Component, Component.id == StructureItem.component_id)
            .where(StructureItem.status_page_id == page_id)
            .order_by(StructureItem.position, StructureItem.id)
        )
    ).all()
    nodes: dict[str, StructureNode] = {}
    for item, component in rows:
        if item.kind == "component" and (component is None or component.archived_at is not None):
            continue
        nodes[item.id] = StructureNode(item=item, component=component)
    roots: list[StructureNode] = []
    for node in nodes.values():
        parent_id = node.item.parent_id
        if parent_id is None:
            roots.append(node)
        elif parent_id in nodes:
            nodes[parent_id].children.append(node)
    return roots


def iter_components(nodes: list[StructureNode]) -> list[StructureNode]:
    """Every component node in the tree, in display order."""
    found: list[StructureNode] = []
    for node in nodes:
        if node.item.kind == "component":
            found.append(node)
        else:
            found.extend(iter_components(node.children))
    return found


# Statements run on every write, built once (their construction cost more than running them).
_COMPONENTS_ON_PAGE = (
    select(StructureItem.component_id)
    .join(Component, Component.id == StructureItem.component_id)
    .where(
        StructureItem.status_page_id == bindparam("page_id"),
        StructureItem.kind == "component",
        Component.archived_at.is_(None),
    )
)


async def component_ids_on_page(session: AsyncSession, page_id: str) -> set[str]:
    rows = await session.scalars(_COMPONENTS_ON_PAGE, {"page_id": page_id})
    return {r for r in rows if r is not None}
