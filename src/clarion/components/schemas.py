"""Wire models for components and availability (incident.io's names) and their builders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from clarion.components.models import Component
from clarion.http.validation import Name, RequestModel
from clarion.http.wire import ManagementMetaV2, management_meta
from clarion.text import MULTI_LINE
from clarion.timeutil import format_ts

MAX_DESCRIPTION = 4096
#: The limit is on ``str``, not on the optional union (see ``RequestModel``).
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION), MULTI_LINE]

# ----------------------------------------------------------------------------- requests


class StatusPageComponentsCreatePayloadV2(RequestModel):
    name: Name
    description: Description | SkipJsonSchema[None] = None


class StatusPageComponentsUpdatePayloadV2(RequestModel):
    """PUT replaces both fields: leaving ``description`` out clears it."""

    name: Name
    description: Description | SkipJsonSchema[None] = None


# ---------------------------------------------------------------------------- responses


class StatusPageComponentV2(BaseModel):
    id: str
    name: str
    management_meta: ManagementMetaV2
    description: str | SkipJsonSchema[None] = None


class StatusPageComponentsListResultV2(BaseModel):
    status_page_components: list[StatusPageComponentV2]


class StatusPageComponentResult(BaseModel):
    status_page_component: StatusPageComponentV2


class StatusPageComponentAvailabilityV2(BaseModel):
    component_id: str
    status_page_id: str
    start_at: datetime
    end_at: datetime
    data_available_since: datetime
    availability_percent: str | SkipJsonSchema[None] = Field(
        default=None,
        description="Rounded down to two decimals, e.g. 99.94; left out without data",
    )


class StatusPagesShowStatusPageComponentAvailabilityResultV2(BaseModel):
    availability: StatusPageComponentAvailabilityV2


def component_v2(component: Component) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": component.id,
        "name": component.name,
        "management_meta": management_meta(component.managed_by),
    }
    if component.description:
        body["description"] = component.description
    return body


def availability_v2(
    *,
    component_id: str,
    status_page_id: str,
    start_at: datetime,
    end_at: datetime,
    data_available_since: datetime,
    percent: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "component_id": component_id,
        "status_page_id": status_page_id,
        "start_at": format_ts(start_at),
        "end_at": format_ts(end_at),
        "data_available_since": format_ts(data_available_since),
    }
    if percent is not None:
        body["availability_percent"] = percent
    return body
