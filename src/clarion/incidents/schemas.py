"""Wire models for status page incidents (incident.io's names) and the builders of responses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from clarion.components.ledger import Impact
from clarion.http.validation import IdempotencyKey, Message, Name, NonBlank, RequestModel, Timestamp
from clarion.http.wire import PaginationMetaResultV2
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.timeutil import format_ts


class IncidentStatus(StrEnum):
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"


class ComponentStatus(StrEnum):
    operational = "operational"
    degraded_performance = "degraded_performance"
    partial_outage = "partial_outage"
    full_outage = "full_outage"


class ImpactStatus(StrEnum):
    degraded_performance = "degraded_performance"
    partial_outage = "partial_outage"
    full_outage = "full_outage"


# ----------------------------------------------------------------------------- requests


class StatusPageIncidentAffectedComponentV2(RequestModel):
    component_id: NonBlank = Field(max_length=64)
    component_status: ComponentStatus


#: The limit is on the list, not on the optional union (see ``RequestModel``).
AffectedComponents = Annotated[list[StatusPageIncidentAffectedComponentV2], Field(max_length=500)]


class StatusPagesCreateStatusPageIncidentPayloadV2(RequestModel):
    status_page_id: NonBlank = Field(max_length=64)
    name: Name
    incident_status: IncidentStatus
    message: Message
    notify_subscribers: bool
    idempotency_key: IdempotencyKey
    component_statuses: AffectedComponents | SkipJsonSchema[None] = None


class StatusPagesUpdateStatusPageIncidentPayloadV2(RequestModel):
    name: Name


class StatusPagesCreateStatusPageIncidentUpdatePayloadV2(RequestModel):
    status_page_incident_id: NonBlank = Field(max_length=64)
    message: Message
    notify_subscribers: bool
    incident_status: IncidentStatus | SkipJsonSchema[None] = None
    component_statuses: AffectedComponents | SkipJsonSchema[None] = None


class StatusPageRetrospectiveIncidentUpdateV2(RequestModel):
    incident_status: IncidentStatus
    message: Message
    published_at: Timestamp
    component_statuses: AffectedComponents | SkipJsonSchema[None] = None


class StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2(RequestModel):
    status_page_id: NonBlank = Field(max_length=64)
    name: Name
    idempotency_key: IdempotencyKey
    updates: list[StatusPageRetrospectiveIncidentUpdateV2] = Field(min_length=1, max_length=100)


# ---------------------------------------------------------------------------- responses


class StatusPageIncidentComponentImpactV2(BaseModel):
    component_id: str
    component_status: ImpactStatus
    start_at: datetime
    end_at: datetime | SkipJsonSchema[None] = None


class StatusPageIncidentUpdateV2(BaseModel):
    id: str
    status_page_incident_id: str
    published_at: datetime
    message: str
    incident_status: IncidentStatus
    component_statuses: list[StatusPageIncidentAffectedComponentV2]


class StatusPageIncidentV2(BaseModel):
    id: str
    status_page_id: str
    name: str
    published_at: datetime
    incident_status: IncidentStatus
    updates: list[StatusPageIncidentUpdateV2]
    component_impacts: list[StatusPageIncidentComponentImpactV2]


class StatusPageIncidentResult(BaseModel):
    status_page_incident: StatusPageIncidentV2


class StatusPagesListStatusPageIncidentsResultV2(BaseModel):
    status_page_incidents: list[StatusPageIncidentV2]
    pagination_meta: PaginationMetaResultV2


class StatusPagesCreateStatusPageIncidentUpdateResultV2(BaseModel):
    status_page_incident_update: StatusPageIncidentUpdateV2


def update_v2(update: IncidentUpdate) -> dict[str, Any]:
    return {
        "id": update.id,
        "status_page_incident_id": update.incident_id,
        "published_at": format_ts(update.published_at),
        "message": update.message,
        "incident_status": update.incident_status,
        "component_statuses": [
            {"component_id": c["component_id"], "component_status": c["component_status"]}
            for c in update.component_statuses
        ],
    }


def impact_v2(impact: Impact) -> dict[str, Any]:
    body: dict[str, Any] = {
        "component_id": impact.component_id,
        "component_status": impact.status,
        "start_at": format_ts(impact.start_at),
    }
    if impact.end_at is not None:
        body["end_at"] = format_ts(impact.end_at)
    return body


def incident_v2(
    incident: Incident, updates: list[IncidentUpdate], impacts: list[Impact]
) -> dict[str, Any]:
    """``updates`` newest first, as incident.io lists them."""
    return {
        "id": incident.id,
        "status_page_id": incident.status_page_id,
        "name": incident.name,
        "published_at": format_ts(incident.published_at),
        "incident_status": incident.incident_status,
        "updates": [update_v2(u) for u in updates],
        "component_impacts": [impact_v2(i) for i in impacts],
    }
