"""Shared helpers for the maintenance tests: creating windows through the SDK and raw HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance as create_maintenance,
)
from incident_io.models import (
    StatusPageMaintenanceV2,
    StatusPagesCreateStatusPageMaintenancePayloadV2,
    StatusPagesCreateStatusPageMaintenancePayloadV2MaintenanceStatus,
)

from clarion.context import AppContext
from clarion.maintenances.automation import automate_maintenance_status
from clarion.timeutil import format_ts
from tests.harness import LiveServer

Status = StatusPagesCreateStatusPageMaintenancePayloadV2MaintenanceStatus


def create_window(
    sdk: AuthenticatedClient,
    page_id: str,
    component_ids: list[str],
    start_at: datetime,
    end_at: datetime,
    *,
    status: Status = Status.MAINTENANCE_SCHEDULED,
    automate: bool = False,
    notify: bool = False,
    name: str = "Database upgrade",
    message: str = "We are upgrading the primary database.",
) -> StatusPageMaintenanceV2:
    response = create_maintenance.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageMaintenancePayloadV2(
            status_page_id=page_id,
            name=name,
            maintenance_status=status,
            idempotency_key=str(uuid.uuid4()),
            affected_component_ids=component_ids,
            start_at=start_at,
            end_at=end_at,
            message=message,
            notify_subscribers=notify,
            automate_maintenance_status=automate,
        ),
    )
    assert response.status_code == 201, response.content
    parsed = response.parsed
    assert parsed is not None
    return parsed.status_page_maintenance  # type: ignore[union-attr, return-value]


def raw(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def create_body(
    page_id: str, component_ids: list[str], start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "status_page_id": page_id,
        "name": "Network work",
        "maintenance_status": "maintenance_scheduled",
        "idempotency_key": str(uuid.uuid4()),
        "affected_component_ids": component_ids,
        "start_at": format_ts(start),
        "end_at": format_ts(end),
        "message": "Routers are being replaced.",
        "notify_subscribers": False,
    }


def run_automation(server: LiveServer) -> int:
    """One run of the automation job on the server's own context (and clock)."""

    async def body(ctx: AppContext) -> int:
        return await automate_maintenance_status(ctx)

    return server.call(body)
