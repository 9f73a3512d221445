"""Notification bodies built from domain events, as receivers (webhooks, e-mail) see them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from clarion.context import AppContext
from clarion.events import DomainEvent
from clarion.incidents.service import ComponentStatusInput, add_update, create_incident
from clarion.maintenances.service import add_update as add_maintenance_update
from clarion.maintenances.service import create_maintenance
from clarion.notifications.payloads import build_payload
from tests.factories import OPERATOR, PageInfo
from tests.harness import LiveServer


def _incident_payloads(server: LiveServer, page: PageInfo) -> tuple[dict[str, Any], ...]:
    api = sorted(page.components.values())[0]

    async def body(ctx: AppContext) -> tuple[dict[str, Any], ...]:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            view = await create_incident(
                session,
                ctx.events,
                actor=OPERATOR,
                page_id=page.id,
                name="Checkout errors",
                incident_status="investigating",
                message="Looking into *it*",
                notify_subscribers=True,
                component_statuses=[ComponentStatusInput(api, "partial_outage")],
                now=now,
            )
            first = view.updates[0]
            update = await add_update(
                session,
                ctx.events,
                actor=OPERATOR,
                incident_id=view.incident.id,
                message="Fixed",
                notify_subscribers=True,
                incident_status="resolved",
                component_statuses=None,
                now=now + timedelta(minutes=5),
            )
        async with ctx.db.read() as session:
            created = await build_payload(
                session,
                DomainEvent(
                    "incident.created", page.id, view.incident.id, now, True, first.id, (api,)
                ),
                ctx.settings,
            )
            resolved = await build_payload(
                session,
                DomainEvent(
                    "incident.resolved",
                    page.id,
                    view.incident.id,
                    update.published_at,
                    True,
                    update.id,
                    (api,),
                ),
                ctx.settings,
            )
        return created, resolved

    return server.call(body)


def test_an_incident_body_carries_the_page_the_incident_and_the_update_that_triggered_it(
    server: LiveServer, page: PageInfo
) -> None:
    created, resolved = _incident_payloads(server, page)
    assert created["type"] == "incident.created"
    assert created["timestamp"].endswith("Z")
    data = created["data"]
    assert data["status_page"]["id"] == page.id
    assert data["status_page"]["url"] == f"{server.base_url}/{page.slug}"
    assert data["incident"]["name"] == "Checkout errors"
    # built after the resolution: the incident is shown as it is now, the update is the first
    assert data["incident"]["incident_status"] == "resolved"
    assert len(data["incident"]["updates"]) == 2
    assert data["update"]["message"] == "Looking into *it*"
    assert data["update"]["incident_status"] == "investigating"
    api = sorted(page.components.values())[0]
    assert [c["id"] for c in data["affected_components"]] == [api]
    assert data["affected_components"][0]["name"].startswith("Component ")
    assert resolved["type"] == "incident.resolved"
    assert resolved["data"]["update"]["message"] == "Fixed"


def test_an_incident_body_also_has_incident_ios_update_shared_webhook_shape(
    server: LiveServer, page: PageInfo
) -> None:
    created, _ = _incident_payloads(server, page)
    assert created["event_type"] == "status_page_incident.update_shared_v1"
    shared = created["status_page_incident.update_shared_v1"]
    assert shared["status_page_incident"] == created["data"]["incident"]
    assert shared["update"] == created["data"]["update"]


def _no_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _no_nulls(item)
    elif isinstance(value, list):
        for item in value:
            _no_nulls(item)
    else:
        assert value is not None


def test_bodies_contain_no_nulls(server: LiveServer, page: PageInfo) -> None:
    for body in _incident_payloads(server, page):
        _no_nulls(body)


def test_a_maintenance_body_carries_the_window_its_schedule_and_the_update(
    server: LiveServer, page: PageInfo
) -> None:
    component = sorted(page.components.values())[0]

    async def body(ctx: AppContext) -> tuple[dict[str, Any], dict[str, Any]]:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            view = await create_maintenance(
                session,
                ctx.events,
                actor=OPERATOR,
                page_id=page.id,
                name="Database upgrade",
                maintenance_status="maintenance_scheduled",
                affected_component_ids=[component],
                start_at=now + timedelta(hours=1),
                end_at=now + timedelta(hours=2),
                message="We will upgrade the database",
                notify_subscribers=True,
                automate=True,
                now=now,
            )
            first = view.updates[0]
            started = await add_maintenance_update(
                session,
                ctx.events,
                actor=OPERATOR,
                maintenance_id=view.maintenance.id,
                message="Started early",
                notify_subscribers=True,
                maintenance_status="maintenance_in_progress",
                component_statuses=None,
                now=now + timedelta(minutes=1),
            )
        async with ctx.db.read() as session:
            scheduled = await build_payload(
                session,
                DomainEvent(
                    "maintenance.scheduled", page.id, view.maintenance.id, now, True, first.id
                ),
                ctx.settings,
            )
            began = await build_payload(
                session,
                DomainEvent(
                    "maintenance.started",
                    page.id,
                    view.maintenance.id,
                    started.published_at,
                    True,
                    started.id,
                ),
                ctx.settings,
            )
        return scheduled, began

    scheduled, began = server.call(body)
    _no_nulls(scheduled)
    _no_nulls(began)
    assert scheduled["type"] == "maintenance.scheduled"
    maintenance = scheduled["data"]["maintenance"]
    assert maintenance["name"] == "Database upgrade"
    assert maintenance["automate_maintenance_status"] is False  # a manual move turned it off
    assert maintenance["start_at"] < maintenance["end_at"]
    assert [p["component_id"] for p in maintenance["component_maintenance_periods"]] == [component]
    assert scheduled["data"]["update"]["message"] == "We will upgrade the database"
    assert [c["id"] for c in scheduled["data"]["affected_components"]] == [component]
    assert "event_type" not in scheduled
    assert began["type"] == "maintenance.started"
    assert began["data"]["update"]["message"] == "Started early"
    assert began["data"]["update"]["maintenance_status"] == "maintenance_in_progress"


def test_an_unknown_event_kind_has_no_body(server: LiveServer, page: PageInfo) -> None:
    async def body(ctx: AppContext) -> None:
        async with ctx.db.read() as session:
            await build_payload(
                session,
                DomainEvent("component.renamed", page.id, "x", ctx.clock.now()),
                ctx.settings,
            )

    with pytest.raises(ValueError):
        server.call(body)
