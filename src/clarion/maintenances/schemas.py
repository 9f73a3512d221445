"""Wire models for maintenance windows (incident.io's names) and the builders of responses.

Request models validate what pydantic can see; the rules that need the database (page and
components exist, the 100-updates cap ...) live in ``service.py``. Responses are built by
``maintenance_v2`` / ``maintenance_update_v2`` as plain dicts that never contain ``null``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from clarion.http.validation import IdempotencyKey, Message, Name, NonBlank, RequestModel, Timestamp
from clarion.http.wire import PaginationMetaResultV2
from clarion.maintenances.models import MaintenanceUpdate
from clarion.maintenances.view import MaintenanceView
from clarion.timeutil import format_ts


class MaintenanceStatus(StrEnum):
    maintenance_scheduled = "maintenance_scheduled"
    maintenance_in_progress = "maintenance_in_progress"
    maintenance_complete = "maintenance_complete"


class MaintenanceComponentStatus(StrEnum):
    operational = "operational"
    under_maintenance = "under_maintenance"


# ----------------------------------------------------------------------------- requests


class StatusPageMaintenanceAffectedComponentV2(RequestModel):
    component_id: NonBlank = Field(max_length=64)
    component_status: MaintenanceComponentStatus


class StatusPagesCreateStatusPageMaintenancePayloadV2(RequestModel):
    status_page_id: NonBlank = Field(max_length=64)
    name: Name
    maintenance_status: MaintenanceStatus
    idempotency_key: IdempotencyKey
    affected_component_ids: list[Annotated[NonBlank, Field(max_length=64)]] = Field(
        min_length=1, max_length=500
    )
    start_at: Timestamp
    end_at: Timestamp
    message: Message
    notify_subscribers: bool
    automate_maintenance_status: bool = False


class StatusPagesUpdateStatusPageMaintenancePayloadV2(RequestModel):
    name: Name
    start_at: Timestamp
    end_at: Timestamp


class StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(RequestModel):
    status_page_maintenance_id: NonBlank = Field(max_length=64)
    message: Message
    notify_subscribers: bool
    maintenance_status: MaintenanceStatus | SkipJsonSchema[None] = None
    component_statuses: (
        Annotated[list[StatusPageMaintenanceAffectedComponentV2], Field(max_length=500)]
        | SkipJsonSchema[None]
    ) = None


# ---------------------------------------------------------------------------- responses


class StatusPageMaintenanceComponentMaintenancePeriodV2(BaseModel):
    component_id: str
    start_at: datetime
    end_at: datetime | SkipJsonSchema[None] = None


class StatusPageMaintenanceUpdateV2(BaseModel):
    id: str
    status_page_maintenance_id: str
    published_at: datetime
    message: str
    maintenance_status: MaintenanceStatus
    component_statuses: list[StatusPageMaintenanceAffectedComponentV2]


class StatusPageMaintenanceV2(BaseModel):
    id: str
    status_page_id: str
    name: str
    published_at: datetime
    maintenance_status: MaintenanceStatus
    automate_maintenance_status: bool
    updates: list[StatusPageMaintenanceUpdateV2]
    component_maintenance_periods: list[StatusPageMaintenanceComponentMaintenancePeriodV2]


class StatusPageMaintenanceResult(BaseModel):
    status_page_maintenance: StatusPageMaintenanceV2


class StatusPagesListStatusPageMaintenancesResultV2(BaseModel):
    status_page_maintenances: list[StatusPageMaintenanceV2]
    pagination_meta: PaginationMetaResultV2


class StatusPagesCreateStatusPageMaintenanceUpdateResultV2(BaseModel):
    status_page_maintenance_update: StatusPageMaintenanceUpdateV2


def maintenance_update_v2(update: MaintenanceUpdate) -> dict[str, Any]:
    return {
        "id": update.id,
        "status_page_maintenance_id": update.maintenance_id,
        "published_at": format_ts(update.published_at),
        "message": update.message,
        "maintenance_status": update.maintenance_status,
        "component_statuses": [
            {"component_id": c["component_id"], "component_status": c["component_status"]}
            for c in update.component_statuses
        ],
    }


def maintenance_v2(view: MaintenanceView) -> dict[str, Any]:
    """A ``StatusPageMaintenanceV2``: updates newest first, periods in component order."""
    m = view.maintenance
    periods: list[dict[str, Any]] = []
    for period in view.periods():
        body: dict[str, Any] = {
            "component_id": period.component_id,
            "start_at": format_ts(period.start_at),
        }
        if period.end_at is not None:
            body["end_at"] = format_ts(period.end_at)
        periods.append(body)
    return {
        "id": m.id,
        "status_page_id": m.status_page_id,
        "name": m.name,
        "published_at": format_ts(m.published_at),
        "maintenance_status": m.maintenance_status,
        "automate_maintenance_status": bool(m.automate),
        "updates": [maintenance_update_v2(u) for u in view.updates],
        "component_maintenance_periods": periods,
    }
