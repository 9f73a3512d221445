"""The components API through incident.io's SDK, and its refusals over raw HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_create as create,
)
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_destroy as destroy,
)
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_list as list_,
)
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_show as show,
)
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_update as update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_incident as show_incident,
)
from incident_io.models import (
    StatusPageComponentsCreatePayloadV2,
    StatusPageComponentsUpdatePayloadV2,
)
from incident_io.types import UNSET

from clarion.audit import service as audit
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.maintenances.models import Maintenance, MaintenanceComponent
from tests.components.helpers import place, unplace
from tests.contract.checks import check_response
from tests.factories import OPERATOR, PageInfo, make_key
from tests.harness import LiveServer


def _new(sdk: AuthenticatedClient, name: str, description: str | None = None) -> str:
    body = StatusPageComponentsCreatePayloadV2(name=name, description=description or UNSET)
    response = create.sync_detailed(client=sdk, body=body)
    assert response.status_code == 201
    return str(response.parsed.status_page_component.id)


def test_a_component_goes_through_create_show_list_update_and_destroy_with_the_sdk(
    sdk: AuthenticatedClient,
) -> None:
    name = f"Billing API {uuid.uuid4().hex[:6]}"
    created = create.sync_detailed(
        client=sdk,
        body=StatusPageComponentsCreatePayloadV2(name=name, description="Card payments"),
    )
    assert created.status_code == 201
    component = created.parsed.status_page_component
    assert component.name == name
    assert component.description == "Card payments"
    assert component.management_meta.managed_by == "dashboard"
    assert component.management_meta.annotations.additional_properties == {}

    shown = show.sync_detailed(component.id, client=sdk).parsed.status_page_component
    assert (shown.id, shown.name, shown.description) == (component.id, name, "Card payments")

    listed = list_.sync_detailed(client=sdk).parsed.status_page_components
    assert component.id in [c.id for c in listed]

    renamed = update.sync_detailed(
        component.id,
        client=sdk,
        body=StatusPageComponentsUpdatePayloadV2(name=name + " v2"),
    )
    assert renamed.status_code == 200
    assert renamed.parsed.status_page_component.name == name + " v2"
    # PUT replaces: a left-out description is cleared (and the key left out, never null).
    assert renamed.parsed.status_page_component.description is UNSET
    assert b"null" not in renamed.content

    gone = destroy.sync_detailed(component.id, client=sdk)
    assert gone.status_code == 204
    assert show.sync_detailed(component.id, client=sdk).status_code == 404
    listed = list_.sync_detailed(client=sdk).parsed.status_page_components
    assert component.id not in [c.id for c in listed]
    assert destroy.sync_detailed(component.id, client=sdk).status_code == 404
    again = update.sync_detailed(
        component.id, client=sdk, body=StatusPageComponentsUpdatePayloadV2(name="x")
    )
    assert again.status_code == 404


def test_components_declared_by_apply_report_external_management(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    component_id = next(iter(page.components.values()))
    shown = show.sync_detailed(component_id, client=sdk).parsed.status_page_component
    assert shown.management_meta.managed_by == "external"


def test_writes_need_the_manage_settings_role_but_reads_do_not(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    component_id = _new(sdk, "Read me")
    publisher = make_key(server, "viewer", "status_page_publisher")
    headers = {"Authorization": f"Bearer {publisher}"}
    base = f"{server.base_url}/v2/status_page_components"
    refused = [
        httpx.post(base, headers=headers, json={"name": "Nope"}),
        httpx.put(f"{base}/{component_id}", headers=headers, json={"name": "Nope"}),
        httpx.delete(f"{base}/{component_id}", headers=headers),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        check_response(response)
        assert response.json()["type"] == "resource_forbidden"
    assert (
        httpx.get(f"{base}/{component_id}", headers=headers).json()["status_page_component"]["name"]
        == "Read me"
    )
    assert httpx.get(base, headers=headers).status_code == 200


def test_invalid_names_and_descriptions_are_422s_pointing_at_the_field(
    server: LiveServer, token: str
) -> None:
    url = f"{server.base_url}/v2/status_page_components"
    headers = {"Authorization": f"Bearer {token}"}
    cases = [
        ({}, "is_required", "name"),
        ({"name": "   "}, "is_required", "name"),
        ({"name": "x" * 201}, "too_long", "name"),
        ({"name": "ok", "description": "d" * 4097}, "too_long", "description"),
    ]
    for body, code, field in cases:
        response = httpx.post(url, headers=headers, json=body)
        assert response.status_code == 422, (body, response.text)
        check_response(response)
        (error,) = response.json()["errors"]
        assert (error["code"], error["source"]["field"]) == (code, field)
        assert error["source"]["pointer"] == f"/{field}"
    assert httpx.post(url, headers=headers, json={"name": "x" * 200}).status_code == 201


def test_a_component_placed_on_a_page_cannot_be_archived_until_taken_off(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    component_id = _new(sdk, "Placed")
    item = place(server, page.id, component_id)
    refused = destroy.sync_detailed(component_id, client=sdk)
    assert refused.status_code == 409
    assert refused.parsed.type_ == "conflict"
    assert refused.parsed.errors[0].code == "component_in_use"
    unplace(server, item)
    assert destroy.sync_detailed(component_id, client=sdk).status_code == 204


def test_an_unresolved_incident_blocks_archiving_and_history_keeps_the_component(
    server: LiveServer, sdk: AuthenticatedClient, token: str, page: PageInfo
) -> None:
    component_id = _new(sdk, "Flaky")
    item = place(server, page.id, component_id)
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{server.base_url}/v2/status_page_incidents",
        headers=headers,
        json={
            "status_page_id": page.id,
            "name": "Flaky is down",
            "incident_status": "investigating",
            "message": "Looking",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
            "component_statuses": [
                {"component_id": component_id, "component_status": "full_outage"}
            ],
        },
    )
    assert created.status_code == 201, created.text
    incident_id = created.json()["status_page_incident"]["id"]
    unplace(server, item)
    assert destroy.sync_detailed(component_id, client=sdk).status_code == 409

    resolved = httpx.post(
        f"{server.base_url}/v2/status_page_incident_updates",
        headers=headers,
        json={
            "status_page_incident_id": incident_id,
            "message": "Fixed",
            "notify_subscribers": False,
            "incident_status": "resolved",
        },
    )
    assert resolved.status_code == 201
    assert destroy.sync_detailed(component_id, client=sdk).status_code == 204
    incident = show_incident.sync_detailed(incident_id, client=sdk).parsed.status_page_incident
    assert [i.component_id for i in incident.component_impacts] == [component_id]


def test_a_maintenance_window_that_is_not_complete_blocks_archiving(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    component_id = _new(sdk, "Database")

    async def schedule(ctx: AppContext) -> str:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            window = Maintenance(
                id=new_id(),
                status_page_id=page.id,
                name="Upgrade",
                maintenance_status="maintenance_scheduled",
                start_at=now + timedelta(hours=1),
                end_at=now + timedelta(hours=2),
                published_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(window)
            await session.flush()
            session.add(MaintenanceComponent(maintenance_id=window.id, component_id=component_id))
            # As every writer does (the suite checks it: tests/audit/ledger.py).
            audit.record(
                session, OPERATOR, "maintenance.create", object_type="maintenance",
                object_id=window.id, at=now, summary="scheduled",
            )  # fmt: skip
            return window.id

    window_id = server.call(schedule)
    assert destroy.sync_detailed(component_id, client=sdk).status_code == 409

    async def complete(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            window = await session.get(Maintenance, window_id)
            assert window is not None
            window.maintenance_status = "maintenance_complete"

    server.call(complete)
    assert destroy.sync_detailed(component_id, client=sdk).status_code == 204


def test_an_unresolved_incident_that_only_listed_the_component_as_operational_still_blocks(
    server: LiveServer, sdk: AuthenticatedClient, token: str, page: PageInfo
) -> None:
    component_id = _new(sdk, "Listed")
    item = place(server, page.id, component_id)
    created = httpx.post(
        f"{server.base_url}/v2/status_page_incidents",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "status_page_id": page.id,
            "name": "Checking",
            "incident_status": "investigating",
            "message": "Probably fine",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
            "component_statuses": [
                {"component_id": component_id, "component_status": "operational"}
            ],
        },
    )
    assert created.status_code == 201
    unplace(server, item)
    assert destroy.sync_detailed(component_id, client=sdk).status_code == 409
