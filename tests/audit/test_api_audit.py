"""The audit log of the API: every write route makes exactly one entry naming the key, in the
write's own transaction; reads, refused writes and idempotent replays make none."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as post_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_incident as rename_incident,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
    StatusPagesUpdateStatusPageIncidentPayloadV2,
)

from clarion.context import AppContext
from clarion.maintenances.automation import automate_maintenance_status
from clarion.timeutil import format_ts
from tests.audit.helpers import entries_by, named_key
from tests.contract.checks import SDK_HTTPX_ARGS, Raw
from tests.factories import PageInfo
from tests.harness import LiveServer, record_statements
from tests.incidents.test_idempotency import _concurrent_creates
from tests.maintenances.helpers import create_window
from tests.subscribers.helpers import create_incident

WRITE_METHODS = ("post", "put", "patch", "delete")


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    action: str
    object_id: str | None = None  # None: the id the response names


@dataclass
class Setup:
    """A page, and a separate key that prepares what a write needs (its writes are its own)."""

    server: LiveServer
    page: PageInfo
    raw: Raw

    @property
    def component_id(self) -> str:
        return next(iter(self.page.components.values()))

    def incident(self) -> str:
        response = self.raw.post("/v2/status_page_incidents", json=incident_body(self.page))
        assert response.status_code == 201, response.text
        return str(response.json()["status_page_incident"]["id"])

    def window(self, **overrides: Any) -> str:
        response = self.raw.post(
            "/v2/status_page_maintenances", json=window_body(self.server, self.page, **overrides)
        )
        assert response.status_code == 201, response.text
        return str(response.json()["status_page_maintenance"]["id"])

    def component(self) -> str:
        response = self.raw.post("/v2/status_page_components", json={"name": "Spare"})
        assert response.status_code == 201, response.text
        return str(response.json()["status_page_component"]["id"])


def incident_body(page: PageInfo, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_page_id": page.id,
        "name": "Audited outage",
        "incident_status": "investigating",
        "message": "Looking into it.",
        "notify_subscribers": False,
        "idempotency_key": uuid.uuid4().hex,
        "component_statuses": [
            {
                "component_id": next(iter(page.components.values())),
                "component_status": "partial_outage",
            }
        ],
    }
    body.update(overrides)
    return body


def window_body(server: LiveServer, page: PageInfo, **overrides: Any) -> dict[str, Any]:
    now = server.clock.now()
    body: dict[str, Any] = {
        "status_page_id": page.id,
        "name": "Audited window",
        "maintenance_status": "maintenance_scheduled",
        "idempotency_key": uuid.uuid4().hex,
        "affected_component_ids": [next(iter(page.components.values()))],
        "start_at": format_ts(now + timedelta(days=1)),
        "end_at": format_ts(now + timedelta(days=1, hours=2)),
        "message": "Upgrading.",
        "notify_subscribers": False,
    }
    body.update(overrides)
    return body


def _retrospective(s: Setup) -> Call:
    now = s.server.clock.now()
    body = {
        "status_page_id": s.page.id,
        "name": "Backfilled",
        "idempotency_key": uuid.uuid4().hex,
        "updates": [
            {
                "incident_status": "investigating",
                "message": "Down.",
                "published_at": format_ts(now - timedelta(hours=3)),
                "component_statuses": [
                    {"component_id": s.component_id, "component_status": "full_outage"}
                ],
            },
            {
                "incident_status": "resolved",
                "message": "Up.",
                "published_at": format_ts(now - timedelta(hours=2)),
            },
        ],
    }
    return Call("post", "/v2/status_page_retrospective_incidents", body, "incident.backfill")


def _rename(s: Setup) -> Call:
    incident = s.incident()
    return Call(
        "put",
        f"/v2/status_page_incidents/{incident}",
        {"name": "Renamed"},
        "incident.rename",
        incident,
    )


def _incident_update(s: Setup) -> Call:
    incident = s.incident()
    body = {
        "status_page_incident_id": incident,
        "message": "Found it.",
        "notify_subscribers": False,
        "incident_status": "identified",
    }
    return Call("post", "/v2/status_page_incident_updates", body, "incident.update", incident)


def _reschedule(s: Setup) -> Call:
    window = s.window()
    now = s.server.clock.now()
    body = {
        "name": "Moved window",
        "start_at": format_ts(now + timedelta(days=2)),
        "end_at": format_ts(now + timedelta(days=2, hours=1)),
    }
    return Call(
        "put", f"/v2/status_page_maintenances/{window}", body, "maintenance.reschedule", window
    )


def _delete_window(s: Setup) -> Call:
    window = s.window()
    return Call(
        "delete", f"/v2/status_page_maintenances/{window}", None, "maintenance.delete", window
    )


def _window_update(s: Setup) -> Call:
    window = s.window()
    body = {
        "status_page_maintenance_id": window,
        "message": "Starting early.",
        "notify_subscribers": False,
        "maintenance_status": "maintenance_in_progress",
    }
    return Call("post", "/v2/status_page_maintenance_updates", body, "maintenance.update", window)


def _component_update(s: Setup) -> Call:
    component = s.component()
    return Call(
        "put",
        f"/v2/status_page_components/{component}",
        {"name": "Renamed spare"},
        "component.update",
        component,
    )


def _component_archive(s: Setup) -> Call:
    component = s.component()
    return Call(
        "delete", f"/v2/status_page_components/{component}", None, "component.archive", component
    )


#: How to make each write route of the OpenAPI document write (a route missing here fails).
WRITES: dict[str, Callable[[Setup], Call]] = {
    "StatusPagesV2_CreateStatusPageIncident": lambda s: Call(
        "post", "/v2/status_page_incidents", incident_body(s.page), "incident.create"
    ),
    "StatusPagesV2_UpdateStatusPageIncident": _rename,
    "StatusPagesV2_CreateStatusPageIncidentUpdate": _incident_update,
    "StatusPagesV2_CreateStatusPageRetrospectiveIncident": _retrospective,
    "StatusPagesV2_CreateStatusPageMaintenance": lambda s: Call(
        "post", "/v2/status_page_maintenances", window_body(s.server, s.page), "maintenance.create"
    ),
    "StatusPagesV2_UpdateStatusPageMaintenance": _reschedule,
    "StatusPagesV2_DeleteStatusPageMaintenance": _delete_window,
    "StatusPagesV2_CreateStatusPageMaintenanceUpdate": _window_update,
    "StatusPageComponentsV2_Create": lambda s: Call(
        "post", "/v2/status_page_components", {"name": "New component"}, "component.create"
    ),
    "StatusPageComponentsV2_Update": _component_update,
    "StatusPageComponentsV2_Destroy": _component_archive,
}


def _operations(raw: Raw, methods: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    document = raw.get("/openapi.json").json()
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in methods
    ]


def _named_id(body: dict[str, Any]) -> str:
    (value,) = body.values()
    return str(value["id"])


def test_every_write_route_of_the_openapi_document_makes_one_entry_naming_the_key(
    server: LiveServer, page: PageInfo, raw: Raw
) -> None:
    setup = Setup(server, page, raw)
    name, token = named_key(server)
    writer = Raw(server.base_url, token)
    operations = _operations(raw, WRITE_METHODS)
    assert len(operations) >= len(WRITES)
    try:
        for method, path, operation in operations:
            op_id = operation["operationId"]
            assert op_id in WRITES, f"{method.upper()} {path} ({op_id}) has no audit check"
            call = WRITES[op_id](setup)
            assert call.method == method
            before = len(entries_by(server, name))
            response = writer.request(call.method.upper(), call.path, json=call.body)
            assert response.status_code in (200, 201, 204), (op_id, response.text)
            entries = entries_by(server, name)
            assert len(entries) == before + 1, (op_id, [e.action for e in entries])
            entry = entries[-1]
            assert entry.action == call.action, op_id
            assert (entry.actor_kind, entry.actor_name) == ("api_key", name)
            expected = call.object_id or _named_id(response.json())
            assert entry.object_id == expected, op_id
            assert entry.summary and "\n" not in entry.summary
    finally:
        writer.close()


def _read_requests(setup: Setup, raw: Raw) -> list[tuple[str, dict[str, str]]]:
    incident = setup.incident()
    window = setup.window()
    now = setup.server.clock.now()
    component = setup.component_id
    values = {
        "status_page_id": setup.page.id,
        "status_page_incident_id": incident,
        "incident_id": incident,
        "status_page_maintenance_id": window,
        "component_id": component,
        "start_at": format_ts(now - timedelta(days=7)),
        "end_at": format_ts(now),
    }
    requests = []
    for _method, path, operation in _operations(raw, ("get",)):
        params = {}
        for parameter in operation.get("parameters", []):
            where, name = parameter["in"], parameter["name"]
            value = values.get(name)
            if name == "id":
                value = component if "components" in path else setup.page.id
            if where == "path":
                path = path.replace("{" + name + "}", str(value))
            elif where == "query" and value is not None:
                params[name] = str(value)
        requests.append((path, params))
    return requests


def test_reads_make_no_entries(server: LiveServer, page: PageInfo, raw: Raw) -> None:
    setup = Setup(server, page, raw)
    requests = _read_requests(setup, raw)
    name, token = named_key(server, "viewer")
    reader = Raw(server.base_url, token)
    try:
        for path, params in requests:
            response = reader.get(path, params=params)
            assert response.status_code == 200, (path, response.text)
    finally:
        reader.close()
    assert len(requests) >= 12
    assert entries_by(server, name) == []


def test_refused_writes_make_no_entries(server: LiveServer, page: PageInfo, raw: Raw) -> None:
    name, token = named_key(server)
    writer = Raw(server.base_url, token)
    placed = next(iter(page.components.values()))
    try:
        refused = [
            writer.post(  # a component that is not on the page (the service refuses it)
                "/v2/status_page_incidents",
                json=incident_body(
                    page,
                    component_statuses=[
                        {"component_id": "01NOSUCHCOMPONENT", "component_status": "full_outage"}
                    ],
                ),
            ),
            writer.post("/v2/status_page_incidents", json=incident_body(page, name="x" * 201)),
            writer.put("/v2/status_page_incidents/01NOSUCHINCIDENT", json={"name": "Nope"}),
            writer.request(
                "DELETE", f"/v2/status_page_components/{placed}"
            ),  # still on the page: 409
            writer.post(
                "/v2/status_page_maintenances",
                json=window_body(server, page, end_at=format_ts(server.clock.now())),
            ),
        ]
    finally:
        writer.close()
    assert [r.status_code for r in refused] == [422, 422, 404, 409, 422]
    viewer_name, viewer_token = named_key(server, "viewer")
    viewer = Raw(server.base_url, viewer_token)
    try:
        assert viewer.post("/v2/status_page_incidents", json=incident_body(page)).status_code == 403
    finally:
        viewer.close()
    assert entries_by(server, name) == []
    assert entries_by(server, viewer_name) == []


def test_an_idempotent_replay_records_nothing_new(server: LiveServer, page: PageInfo) -> None:
    name, token = named_key(server)
    writer = Raw(server.base_url, token)
    body = incident_body(page)
    try:
        first = writer.post("/v2/status_page_incidents", json=body)
        again = writer.post("/v2/status_page_incidents", json=body)
    finally:
        writer.close()
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert [e.action for e in entries_by(server, name)] == ["incident.create"]


def test_the_entry_is_one_insert_in_the_writes_own_transaction(
    server: LiveServer, page: PageInfo
) -> None:
    name, token = named_key(server)
    writer = Raw(server.base_url, token)
    try:
        with record_statements(server.ctx.db.write_engine) as seen:
            created = writer.post("/v2/status_page_incidents", json=incident_body(page))
    finally:
        writer.close()
    assert created.status_code == 201
    audit = [s for s in seen if "audit_entries" in s]
    assert len(audit) == 1 and audit[0].lstrip().upper().startswith("INSERT INTO AUDIT_ENTRIES")
    # Inserted before the transaction ends (with the incident's rows), never after its commit.
    assert seen.index(audit[0]) < max(i for i, s in enumerate(seen) if "idempotency" in s)
    assert len(entries_by(server, name)) == 1


def test_concurrent_duplicates_of_an_idempotent_create_record_one_entry(
    server: LiveServer, page: PageInfo
) -> None:
    name, token = named_key(server)
    body = incident_body(page)
    responses = asyncio.run(_concurrent_creates(server.base_url, token, body, 8))
    assert [r.status_code for r in responses] == [201] * 8
    entries = entries_by(server, name)
    assert [e.action for e in entries] == ["incident.create"]


def test_writes_through_the_sdk_name_the_key(server: LiveServer, page: PageInfo) -> None:
    name, token = named_key(server, prefix="sdk")
    component = next(iter(page.components.values()))
    now = server.clock.now()
    with AuthenticatedClient(
        base_url=server.base_url,
        token=token,
        raise_on_unexpected_status=True,
        httpx_args=SDK_HTTPX_ARGS,
    ) as sdk:
        incident = create_incident(
            sdk, page.id, "SDK outage", notify=False, components={component: "full_outage"}
        )
        post_update.sync(
            client=sdk,
            body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2(
                status_page_incident_id=incident.id,
                message="All good.",
                notify_subscribers=False,
                incident_status=StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus.RESOLVED,
            ),
        )
        rename_incident.sync(
            incident.id,
            client=sdk,
            body=StatusPagesUpdateStatusPageIncidentPayloadV2(name="SDK outage (API)"),
        )
        window = create_window(
            sdk, page.id, [component], now + timedelta(days=3), now + timedelta(days=3, hours=1)
        )
    entries = entries_by(server, name)
    assert [(e.action, e.object_id) for e in entries] == [
        ("incident.create", incident.id),
        ("incident.resolve", incident.id),
        ("incident.rename", incident.id),
        ("maintenance.create", window.id),
    ]
    assert {e.status_page_id for e in entries} == {page.id}
    assert entries[0].detail["component_statuses"] == [
        {"component_id": component, "component_status": "full_outage"}
    ]


def test_automated_maintenance_moves_name_the_system(
    server: LiveServer, page: PageInfo, raw: Raw
) -> None:
    now = server.clock.now()
    setup = Setup(server, page, raw)
    window = setup.window(
        start_at=format_ts(now - timedelta(minutes=5)),
        end_at=format_ts(now + timedelta(hours=1)),
        automate_maintenance_status=True,
    )

    async def run(ctx: AppContext) -> int:
        return await automate_maintenance_status(ctx)

    assert server.call(run) >= 1
    moves = [e for e in entries_by(server, "system:automation") if e.object_id == window]
    assert [(e.action, e.actor_kind, e.detail["automated"]) for e in moves] == [
        ("maintenance.update", "system", True)
    ]
    assert moves[0].detail["maintenance_status"] == "maintenance_in_progress"
