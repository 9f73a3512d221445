"""Wire models and builders for status pages and structures."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from clarion.http.wire import ManagementMetaV2, PaginationMetaResultV2, management_meta
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import StructureNode


class StatusPageV2(BaseModel):
    id: str
    name: str
    description: str | SkipJsonSchema[None] = None
    public_url: str | SkipJsonSchema[None] = None


class StatusPagesListStatusPagesResultV2(BaseModel):
    status_pages: list[StatusPageV2]
    pagination_meta: PaginationMetaResultV2


class StatusPagesShowStatusPageResultV2(BaseModel):
    status_page: StatusPageV2


class StatusPageStructureComponentV2(BaseModel):
    component_id: str
    name: str
    display_uptime: bool
    hidden: bool


class StatusPageStructureGroupV2(BaseModel):
    id: str
    name: str
    components: list[StatusPageStructureComponentV2]
    display_aggregated_uptime: bool
    hidden: bool
    description: str | SkipJsonSchema[None] = None


class StatusPageStructureSubPageItemV2(BaseModel):
    component: StatusPageStructureComponentV2 | SkipJsonSchema[None] = None
    group: StatusPageStructureGroupV2 | SkipJsonSchema[None] = None


class StatusPageStructureSubPageV2(BaseModel):
    id: str
    name: str
    items: list[StatusPageStructureSubPageItemV2]


class StatusPageStructureItemV2(BaseModel):
    component: StatusPageStructureComponentV2 | SkipJsonSchema[None] = None
    group: StatusPageStructureGroupV2 | SkipJsonSchema[None] = None
    sub_page: StatusPageStructureSubPageV2 | SkipJsonSchema[None] = None


class StatusPageStructureV2(BaseModel):
    items: list[StatusPageStructureItemV2]


class StatusPagesShowStatusPageStructureResultV2(BaseModel):
    current_structure: StatusPageStructureV2
    display_uptime_mode: Literal["chart_and_percentage", "chart_only", "nothing"] | str
    management_meta: ManagementMetaV2


def public_url(page: StatusPage, settings: Settings) -> str:
    """Where the page is served: its own domain, or ``CLARION_BASE_URL/<slug>``."""
    if page.custom_domain:
        scheme = settings.base_url.split("://", 1)[0] if "://" in settings.base_url else "https"
        return f"{scheme}://{page.custom_domain}"
    return f"{settings.base_url}/{page.slug}"


def status_page_v2(page: StatusPage, settings: Settings) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": page.id,
        "name": page.name,
        "public_url": public_url(page, settings),
    }
    if page.description:
        body["description"] = page.description
    return body


def _component(node: StructureNode) -> dict[str, Any]:
    assert node.component is not None
    return {
        "component_id": node.component.id,
        "name": node.component.name,
        "display_uptime": node.item.display_uptime,
        "hidden": node.item.hidden,
    }


def _group(node: StructureNode) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": node.item.id,
        "name": node.item.name or "",
        "components": [_component(c) for c in node.children if c.item.kind == "component"],
        "display_aggregated_uptime": node.item.display_aggregated_uptime,
        "hidden": node.item.hidden,
    }
    if node.item.description:
        body["description"] = node.item.description
    return body


def _item(node: StructureNode) -> dict[str, Any]:
    if node.item.kind == "component":
        return {"component": _component(node)}
    if node.item.kind == "group":
        return {"group": _group(node)}
    return {
        "sub_page": {
            "id": node.item.id,
            "name": node.item.name or "",
            "items": [_item(child) for child in node.children if child.item.kind != "sub_page"],
        }
    }


def structure_v2(page: StatusPage, nodes: list[StructureNode]) -> dict[str, Any]:
    return {
        "current_structure": {"items": [_item(node) for node in nodes]},
        "display_uptime_mode": page.display_uptime_mode,
        "management_meta": management_meta(page.managed_by),
    }
