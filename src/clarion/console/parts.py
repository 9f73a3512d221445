"""A status page's components grouped as the page shows them (the publishing forms' impact
controls), kept per page ``content_version``.

Every write that changes what a page shows moves its ``content_version`` when it commits
(``status_pages.versions``), structure and names included: the public site's render cache
relies on the same rule. So the groups read for a version hold until it moves, and a form's
post finds what showing the form read, without reading the structure again. The version comes
with the page's own row, which every reader loads anyway; a write through another process
shows on the next request here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import StructureNode, load_structure


@dataclass
class ComponentGroup:
    """Components shown together, as on the page: ``heading`` None for the page's top
    level, else the group's (or sub-page's) name."""

    heading: str | None
    components: list[tuple[str, str]] = field(default_factory=list)  # (id, name)


def _groups(nodes: list[StructureNode], heading: str | None, into: list[ComponentGroup]) -> None:
    here = ComponentGroup(heading)
    into.append(here)
    for node in nodes:
        if node.item.kind == "component" and node.component is not None:
            here.components.append((node.component.id, node.item.name or node.component.name))
        elif node.item.kind != "component":
            name = node.item.name or ""
            _groups(node.children, f"{heading}: {name}" if heading else name, into)


async def component_groups(session: AsyncSession, page_id: str) -> list[ComponentGroup]:
    """The page's components by group, in display order (groups without any left out)."""
    groups: list[ComponentGroup] = []
    _groups(await load_structure(session, page_id), None, groups)
    return [g for g in groups if g.components]


class PageParts:
    """The latest ``component_groups`` of each page, with the version they were read at.
    What it returns is shared between requests: callers never change it."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[int, list[ComponentGroup]]] = {}

    async def groups(self, session: AsyncSession, page: StatusPage) -> list[ComponentGroup]:
        """``page``'s groups at its ``content_version`` (as loaded with it), read in
        ``session`` when none are known for that version. On PostgreSQL the structure read
        may see a later commit than the page's row did: newer groups under an older version,
        which only costs a miss once the version moves."""
        version = page.content_version
        found = self._latest.get(page.id)
        if found is not None and found[0] == version:
            return found[1]
        groups = await component_groups(session, page.id)
        if found is None or version >= found[0]:
            self._latest[page.id] = (version, groups)
        return groups
