"""The Statuspage-compatible JSON: exact shapes, key order, enums and the status mapping.

Data goes in through incident.io's SDK against the live server; documents come back over HTTP
from the page's public URL, and are checked against a shape checker written from the
Statuspage format (keys in order, types, enums, ``null`` where the format has it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_incident_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance as create_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance_update as create_maintenance_update,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageMaintenancePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
)
from sqlalchemy import select

from clarion.components.models import Component
from clarion.context import AppContext
from clarion.status_pages.models import StatusPage
from tests.factories import declare
from tests.harness import LiveServer

# ---------------------------------------------------------------------------------------------
# The shape checker, from the Statuspage format

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "minor", "major", "critical", "maintenance"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}

Check = Callable[[Any, str], None]


def _string(value: Any, where: str) -> None:
    assert isinstance(value, str) and value, f"{where}: expected a non-empty string, got {value!r}"


def _text(value: Any, where: str) -> None:
    assert isinstance(value, str), f"{where}: expected a string, got {value!r}"


def _bool(value: Any, where: str) -> None:
    assert isinstance(value, bool), f"{where}: expected a boolean, got {value!r}"


def _int(value: Any, where: str) -> None:
    assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r}"


def _ts(value: Any, where: str) -> None:
    assert isinstance(value, str) and TIMESTAMP.match(value), f"{where}: bad timestamp {value!r}"


def _date(value: Any, where: str) -> None:
    assert isinstance(value, str), f"{where}: {value!r}"
    date.fromisoformat(value)


def _enum(values: set[str]) -> Check:
    def check(value: Any, where: str) -> None:
        assert value in values, f"{where}: {value!r} not in {sorted(values)}"

    return check


def _nullable(check: Check) -> Check:
    def nullable(value: Any, where: str) -> None:
        if value is not None:
            check(value, where)

    return nullable


def _list_of(check: Check) -> Check:
    def items(value: Any, where: str) -> None:
        assert isinstance(value, list), f"{where}: expected a list, got {value!r}"
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]")

    return items


def _object(fields: list[tuple[str, Check]]) -> Check:
    """Exactly these keys, in this order, each passing its check."""

    def check(value: Any, where: str) -> None:
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        assert list(value) == [k for k, _ in fields], f"{where}: keys {list(value)}"
        for key, check_field in fields:
            check_field(value[key], f"{where}.{key}")

    return check


PAGE = _object(
    [("id", _string), ("name", _string), ("url", _string), ("time_zone", _string),
     ("updated_at", _ts)]
)  # fmt: skip
_COMPONENT_FIELDS: list[tuple[str, Check]] = [
    ("id", _string), ("name", _string), ("status", _enum(COMPONENT_STATUSES)),
    ("created_at", _ts), ("updated_at", _ts), ("position", _int),
    ("description", _nullable(_text)), ("showcase", _bool), ("start_date", _nullable(_date)),
    ("group_id", _nullable(_string)), ("page_id", _string), ("group", _bool),
    ("only_show_if_degraded", _bool),
]  # fmt: skip
_PLAIN_COMPONENT = _object(_COMPONENT_FIELDS)
_GROUP = _object([*_COMPONENT_FIELDS, ("components", _list_of(_string))])


def COMPONENT(value: Any, where: str) -> None:
    assert isinstance(value, dict), where
    if value.get("group") is True:
        _GROUP(value, where)
        assert value["group_id"] is None, f"{where}: a group has no group"
    else:
        _PLAIN_COMPONENT(value, where)


AFFECTED = _object(
    [("code", _string), ("name", _text), ("old_status", _enum(COMPONENT_STATUSES)),
     ("new_status", _enum(COMPONENT_STATUSES))]
)  # fmt: skip


def _update(statuses: set[str]) -> Check:
    return _object(
        [("id", _string), ("status", _enum(statuses)), ("body", _text), ("incident_id", _string),
         ("created_at", _ts), ("updated_at", _ts), ("display_at", _ts),
         ("affected_components", _nullable(_list_of(AFFECTED))),
         ("deliver_notifications", _bool), ("custom_tweet", _nullable(_text)),
         ("tweet_id", _nullable(_text))]
    )  # fmt: skip


def _incident_fields(statuses: set[str]) -> list[tuple[str, Check]]:
    return [
        ("id", _string), ("name", _string), ("status", _enum(statuses)), ("created_at", _ts),
        ("updated_at", _ts), ("monitoring_at", _nullable(_ts)), ("resolved_at", _nullable(_ts)),
        ("impact", _enum(IMPACTS)), ("shortlink", _string), ("started_at", _ts),
        ("page_id", _string), ("incident_updates", _list_of(_update(statuses))),
        ("components", _list_of(COMPONENT)),
    ]  # fmt: skip


INCIDENT = _object(_incident_fields(INCIDENT_STATUSES))
MAINTENANCE = _object(
    [*_incident_fields(MAINTENANCE_STATUSES), ("scheduled_for", _ts), ("scheduled_until", _ts)]
)
STATUS = _object(
    [("indicator", _enum(INDICATORS)), ("description", _enum(
        {"All Systems Operational", "Minor Service Outage", "Partial System Outage",
         "Major System Outage", "Service Under Maintenance"}))]
)  # fmt: skip

DOCUMENT_SHAPES: dict[str, Check] = {
    "summary.json": _object(
        [("page", PAGE), ("components", _list_of(COMPONENT)), ("incidents", _list_of(INCIDENT)),
         ("scheduled_maintenances", _list_of(MAINTENANCE)), ("status", STATUS)]
    ),
    "status.json": _object([("page", PAGE), ("status", STATUS)]),
    "components.json": _object([("page", PAGE), ("components", _list_of(COMPONENT))]),
    "incidents.json": _object([("page", PAGE), ("incidents", _list_of(INCIDENT))]),
    "incidents/unresolved.json": _object([("page", PAGE), ("incidents", _list_of(INCIDENT))]),
    "scheduled-maintenances.json": _object(
        [("page", PAGE), ("scheduled_maintenances", _list_of(MAINTENANCE))]
    ),
    "scheduled-maintenances/upcoming.json": _object(
        [("page", PAGE), ("scheduled_maintenances", _list_of(MAINTENANCE))]
    ),
    "scheduled-maintenances/active.json": _object(
        [("page", PAGE), ("scheduled_maintenances", _list_of(MAINTENANCE))]
    ),
}  # fmt: skip


def test_the_shape_checker_rejects_what_the_format_does_not_allow() -> None:
    good = {"indicator": "none", "description": "All Systems Operational"}
    STATUS(good, "status")
    with pytest.raises(AssertionError):
        STATUS({"description": "All Systems Operational", "indicator": "none"}, "order")
    with pytest.raises(AssertionError):
        STATUS({**good, "indicator": "degraded"}, "enum")
    with pytest.raises(AssertionError):
        PAGE({"id": "p", "name": "n", "url": "u", "time_zone": "Etc/UTC",
              "updated_at": "2026-01-01T00:00:00Z"}, "no milliseconds")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# A page with groups, a hidden item, a sub-page, incidents and maintenance in every state


@dataclass
class Scenario:
    server: LiveServer
    slug: str
    page_id: str
    ids: dict[str, str]  # component key suffix -> id
    groups: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, str] = field(default_factory=dict)
    maintenances: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/{self.slug}/{path}"

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(self.url(f"api/v2/{path}"), timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        return body


def make_structured_page(
    server: LiveServer, *, time_zone: str = "Etc/UTC", custom_domain: str | None = None
) -> Scenario:
    tag = uuid.uuid4().hex[:8]
    names = {"api": "API", "web": "Website", "db": "Database", "cache": "Cache", "eu": "EU",
             "us": "US", "secret": "Secret", "uk": "London"}  # fmt: skip
    keys = {short: f"{short}-{tag}" for short in names}
    slug = f"json-{tag}"
    declare(
        server,
        {
            "components": [
                {"key": keys[s], "name": n, **({"description": "Public REST API"} if s == "api"
                                               else {})}
                for s, n in names.items()
            ],
            "status_pages": [
                {
                    "slug": slug,
                    "name": f"Example {tag}",
                    "time_zone": time_zone,
                    **({"custom_domain": custom_domain} if custom_domain else {}),
                    "items": [
                        {"component": keys["api"]},
                        {"group": {"name": "Core Platform", "description": "The core",
                                   "components": [keys["db"], keys["cache"],
                                                  {"key": keys["secret"], "hidden": True}]}},
                        {"group": {"name": "Regions", "components": [keys["eu"], keys["us"]]}},
                        {"component": {"key": keys["web"], "display_uptime": False}},
                        {"sub_page": {"name": "United Kingdom",
                                      "items": [{"component": keys["uk"]}]}},
                    ],
                }
            ],
        },
    )  # fmt: skip

    async def body(ctx: AppContext) -> tuple[str, dict[str, str]]:
        async with ctx.db.read() as session:
            page = await session.scalar(select(StatusPage).where(StatusPage.slug == slug))
            assert page is not None
            rows = await session.scalars(select(Component).where(Component.key.in_(keys.values())))
            by_key = {c.key: c.id for c in rows}
        return page.id, {s: by_key[k] for s, k in keys.items()}

    page_id, ids = server.call(body)
    return Scenario(server=server, slug=slug, page_id=page_id, ids=ids)


def open_incident(
    sdk: AuthenticatedClient,
    scenario: Scenario,
    name: str,
    statuses: dict[str, str],
    *,
    status: str = "investigating",
    message: str = "We are looking into it",
) -> str:
    response = create_incident.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentPayloadV2.from_dict(
            {
                "status_page_id": scenario.page_id,
                "name": name,
                "incident_status": status,
                "message": message,
                "notify_subscribers": False,
                "idempotency_key": str(uuid.uuid4()),
                "component_statuses": [
                    {"component_id": scenario.ids[k], "component_status": v}
                    for k, v in statuses.items()
                ],
            }
        ),
    )
    assert response.status_code == 201, response.content
    incident_id: str = response.parsed.status_page_incident.id
    return incident_id


def post_incident_update(
    sdk: AuthenticatedClient,
    scenario: Scenario,
    incident_id: str,
    status: str,
    statuses: dict[str, str],
    message: str = "An update",
) -> None:
    response = create_incident_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2.from_dict(
            {
                "status_page_incident_id": incident_id,
                "message": message,
                "notify_subscribers": False,
                "incident_status": status,
                "component_statuses": [
                    {"component_id": scenario.ids[k], "component_status": v}
                    for k, v in statuses.items()
                ],
            }
        ),
    )
    assert response.status_code == 201, response.content


def schedule_maintenance(
    sdk: AuthenticatedClient,
    scenario: Scenario,
    name: str,
    components: list[str],
    start: datetime,
    end: datetime,
    *,
    status: str = "maintenance_scheduled",
    message: str = "We will upgrade the database",
) -> str:
    response = create_maintenance.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageMaintenancePayloadV2.from_dict(
            {
                "status_page_id": scenario.page_id,
                "name": name,
                "maintenance_status": status,
                "idempotency_key": str(uuid.uuid4()),
                "affected_component_ids": [scenario.ids[c] for c in components],
                "start_at": start.isoformat(),
                "end_at": end.isoformat(),
                "message": message,
                "notify_subscribers": False,
            }
        ),
    )
    assert response.status_code == 201, response.content
    maintenance_id: str = response.parsed.status_page_maintenance.id
    return maintenance_id


def post_maintenance_update(
    sdk: AuthenticatedClient, maintenance_id: str, status: str, message: str = "Done"
) -> None:
    response = create_maintenance_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2.from_dict(
            {
                "status_page_maintenance_id": maintenance_id,
                "message": message,
                "notify_subscribers": False,
                "maintenance_status": status,
            }
        ),
    )
    assert response.status_code == 201, response.content


def populate(sdk: AuthenticatedClient, scenario: Scenario) -> None:
    """An ongoing incident (EU partial outage, then identified with US degraded), a resolved
    one (API full outage), and maintenance windows scheduled, in progress and complete."""
    s = scenario
    s.incidents["resolved"] = open_incident(sdk, s, "API down", {"api": "full_outage"})
    post_incident_update(sdk, s, s.incidents["resolved"], "monitoring", {"api": "operational"})
    post_incident_update(sdk, s, s.incidents["resolved"], "resolved", {})
    s.incidents["ongoing"] = open_incident(sdk, s, "EU errors", {"eu": "partial_outage"})
    both = {"eu": "partial_outage", "us": "degraded_performance"}
    post_incident_update(sdk, s, s.incidents["ongoing"], "identified", both)
    now = datetime.now(UTC)
    later = now + timedelta(days=2)
    s.maintenances["scheduled"] = schedule_maintenance(
        sdk, s, "Database upgrade", ["db"], later, later + timedelta(hours=2)
    )
    s.maintenances["in_progress"] = schedule_maintenance(
        sdk, s, "Cache resize", ["cache"], now - timedelta(minutes=10), now + timedelta(hours=1),
        status="maintenance_in_progress", message="Resizing now",
    )  # fmt: skip
    s.maintenances["complete"] = schedule_maintenance(
        sdk, s, "Web deploy", ["web"], now - timedelta(days=3), now - timedelta(days=3) +
        timedelta(hours=1), status="maintenance_in_progress",
    )  # fmt: skip
    post_maintenance_update(sdk, s.maintenances["complete"], "maintenance_complete")


@pytest.fixture(scope="module")
def scenario(server: LiveServer) -> Scenario:
    from tests.factories import make_key

    built = make_structured_page(server)
    with AuthenticatedClient(
        base_url=server.base_url, token=make_key(server), raise_on_unexpected_status=True
    ) as sdk:
        populate(sdk, built)
    return built


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("document", sorted(DOCUMENT_SHAPES))
def test_every_document_has_the_statuspage_shape(scenario: Scenario, document: str) -> None:
    body = scenario.get(document)
    DOCUMENT_SHAPES[document](body, document)
    assert body["page"]["id"] == scenario.page_id
    assert body["page"]["url"] == f"{scenario.server.base_url}/{scenario.slug}"
    assert body["page"]["time_zone"] == "Etc/UTC"


def test_groups_sit_in_the_flat_list_with_their_children_and_hidden_items_are_left_out(
    scenario: Scenario,
) -> None:
    components = scenario.get("components.json")["components"]
    names = [(c["name"], c["group"], c["group_id"] is not None) for c in components]
    assert names == [
        ("API", False, False),
        ("Core Platform", True, False),
        ("Database", False, True),
        ("Cache", False, True),
        ("Regions", True, False),
        ("EU", False, True),
        ("US", False, True),
        ("Website", False, False),
        ("London", False, False),  # a sub-page's items take its place
    ]
    core = components[1]
    assert core["components"] == [scenario.ids["db"], scenario.ids["cache"]]
    assert core["description"] == "The core"
    assert {c["group_id"] for c in components[2:4]} == {core["id"]}
    assert scenario.ids["secret"] not in {c["id"] for c in components}
    assert [c["position"] for c in components if c["group_id"] is None] == [1, 2, 3, 4, 5]
    api, web = components[0], components[7]
    assert (api["description"], api["showcase"]) == ("Public REST API", True)
    assert (web["description"], web["showcase"]) == (None, False)
    assert api["start_date"] is not None and core["start_date"] is None


def test_component_statuses_map_to_statuspage_words_and_groups_show_their_worst_member(
    scenario: Scenario,
) -> None:
    by_name = {c["name"]: c for c in scenario.get("components.json")["components"]}
    assert by_name["EU"]["status"] == "partial_outage"
    assert by_name["US"]["status"] == "degraded_performance"
    assert by_name["Regions"]["status"] == "partial_outage"
    assert by_name["Cache"]["status"] == "under_maintenance"
    assert by_name["Core Platform"]["status"] == "under_maintenance"
    assert by_name["API"]["status"] == "operational"  # its incident is resolved
    assert by_name["Database"]["status"] == "operational"  # maintenance not started


def test_a_full_outage_is_a_major_outage_and_a_critical_indicator(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    assert s.get("status.json")["status"] == {
        "indicator": "none",
        "description": "All Systems Operational",
    }
    incident = open_incident(sdk, s, "Everything is down", {"api": "full_outage"})
    components = {c["name"]: c for c in s.get("components.json")["components"]}
    assert components["API"]["status"] == "major_outage"
    assert s.get("status.json")["status"] == {
        "indicator": "critical",
        "description": "Major System Outage",
    }
    summary = s.get("summary.json")
    assert [i["id"] for i in summary["incidents"]] == [incident]
    assert summary["incidents"][0]["impact"] == "critical"
    post_incident_update(sdk, s, incident, "resolved", {})
    assert s.get("status.json")["status"]["indicator"] == "none"
    assert s.get("incidents/unresolved.json")["incidents"] == []
    assert s.get("components.json")["components"][0]["status"] == "operational"


@pytest.mark.parametrize(
    ("status", "indicator", "description"),
    [
        ("degraded_performance", "minor", "Minor Service Outage"),
        ("partial_outage", "major", "Partial System Outage"),
    ],
)
def test_the_indicator_follows_the_worst_component(
    server: LiveServer, sdk: AuthenticatedClient, status: str, indicator: str, description: str
) -> None:
    s = make_structured_page(server)
    open_incident(sdk, s, "Trouble", {"eu": status})
    assert s.get("status.json")["status"] == {"indicator": indicator, "description": description}


def test_an_outage_on_a_hidden_component_does_not_move_the_indicator(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    incident = open_incident(sdk, s, "Hidden trouble", {"secret": "full_outage"})
    status = s.get("status.json")["status"]
    # The unresolved incident still counts, by its impact.
    assert status["indicator"] == "critical"
    post_incident_update(sdk, s, incident, "resolved", {})
    assert s.get("status.json")["status"]["indicator"] == "none"


def test_maintenance_in_progress_alone_gives_the_maintenance_indicator(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    now = datetime.now(UTC)
    window = schedule_maintenance(
        sdk, s, "Resize", ["db"], now - timedelta(minutes=5), now + timedelta(hours=1),
        status="maintenance_in_progress",
    )  # fmt: skip
    assert s.get("status.json")["status"] == {
        "indicator": "maintenance",
        "description": "Service Under Maintenance",
    }
    active = s.get("scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [m["id"] for m in active] == [window]
    assert active[0]["status"] == "in_progress"
    assert active[0]["impact"] == "maintenance"
    post_maintenance_update(sdk, window, "maintenance_complete")
    assert s.get("status.json")["status"]["indicator"] == "none"
    assert s.get("scheduled-maintenances/active.json")["scheduled_maintenances"] == []


def test_incidents_carry_their_updates_newest_first_with_affected_components(
    scenario: Scenario,
) -> None:
    incidents = {i["id"]: i for i in scenario.get("incidents.json")["incidents"]}
    ongoing = incidents[scenario.incidents["ongoing"]]
    assert ongoing["status"] == "identified"
    assert ongoing["impact"] == "major"
    assert ongoing["resolved_at"] is None and ongoing["monitoring_at"] is None
    assert ongoing["shortlink"] == scenario.url(f"incidents/{ongoing['id']}")
    latest, first = ongoing["incident_updates"]
    assert (latest["status"], first["status"]) == ("identified", "investigating")
    assert first["affected_components"] == [
        {"code": scenario.ids["eu"], "name": "EU", "old_status": "operational",
         "new_status": "partial_outage"}
    ]  # fmt: skip
    assert latest["affected_components"] == [
        {"code": scenario.ids["eu"], "name": "EU", "old_status": "partial_outage",
         "new_status": "partial_outage"},
        {"code": scenario.ids["us"], "name": "US", "old_status": "operational",
         "new_status": "degraded_performance"},
    ]  # fmt: skip
    assert all(u["incident_id"] == ongoing["id"] for u in ongoing["incident_updates"])
    assert [c["name"] for c in ongoing["components"]] == ["EU", "US"]

    resolved = incidents[scenario.incidents["resolved"]]
    assert resolved["status"] == "resolved"
    assert resolved["impact"] == "critical"
    assert resolved["resolved_at"] is not None and resolved["monitoring_at"] is not None
    assert resolved["incident_updates"][0]["affected_components"] is None
    assert resolved["incident_updates"][2]["affected_components"][0]["new_status"] == (
        "major_outage"
    )
    unresolved = scenario.get("incidents/unresolved.json")["incidents"]
    assert [i["id"] for i in unresolved] == [scenario.incidents["ongoing"]]
    assert [i["id"] for i in scenario.get("summary.json")["incidents"]] == [ongoing["id"]]


def test_maintenance_statuses_map_and_each_list_holds_its_windows(scenario: Scenario) -> None:
    m = scenario.maintenances
    every = {
        w["id"]: w for w in scenario.get("scheduled-maintenances.json")["scheduled_maintenances"]
    }
    states = [every[m[k]]["status"] for k in ("scheduled", "in_progress", "complete")]
    assert states == ["scheduled", "in_progress", "completed"]
    assert every[m["complete"]]["resolved_at"] is not None
    assert every[m["scheduled"]]["resolved_at"] is None
    assert [c["name"] for c in every[m["scheduled"]]["components"]] == ["Database"]
    updates = every[m["complete"]]["incident_updates"]
    assert [u["status"] for u in updates] == ["completed", "in_progress"]
    upcoming = scenario.get("scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [w["id"] for w in upcoming] == [m["scheduled"]]
    active = scenario.get("scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [w["id"] for w in active] == [m["in_progress"]]
    summary = scenario.get("summary.json")["scheduled_maintenances"]
    assert {w["id"] for w in summary} == {m["scheduled"], m["in_progress"]}
    scheduled = every[m["scheduled"]]
    assert scheduled["scheduled_for"] < scheduled["scheduled_until"]


def test_timestamps_use_the_page_time_zone_with_milliseconds(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server, time_zone="America/Los_Angeles")
    open_incident(sdk, s, "Late night", {"api": "degraded_performance"})
    body = s.get("summary.json")
    DOCUMENT_SHAPES["summary.json"](body, "summary.json")
    assert body["page"]["time_zone"] == "America/Los_Angeles"
    stamp = body["incidents"][0]["created_at"]
    assert re.search(r"-0[78]:00$", stamp), stamp
    parsed = datetime.fromisoformat(stamp)
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=5)


def test_incident_and_maintenance_lists_stop_at_fifty_newest_first(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    created = [open_incident(sdk, s, f"Blip {n}", {}, status="resolved") for n in range(53)]
    listed = s.get("incidents.json")["incidents"]
    assert len(listed) == 50
    assert [i["id"] for i in listed] == list(reversed(created))[:50]


def test_documents_allow_any_origin_and_answer_the_preflight(scenario: Scenario) -> None:
    origin = {"Origin": "https://dashboard.example.org"}
    for document in DOCUMENT_SHAPES:
        url = scenario.url(f"api/v2/{document}")
        response = httpx.get(url, headers=origin)
        assert response.headers["access-control-allow-origin"] == "*", document
        preflight = httpx.options(
            url, headers={**origin, "Access-Control-Request-Method": "GET",
                          "Access-Control-Request-Headers": "x-requested-with"}
        )  # fmt: skip
        assert preflight.status_code in (200, 204), document
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "GET" in preflight.headers["access-control-allow-methods"]
        revalidated = httpx.get(url, headers={**origin, "If-None-Match": response.headers["etag"]})
        assert revalidated.status_code == 304
        assert revalidated.headers["access-control-allow-origin"] == "*"


def test_a_write_shows_in_the_next_document(server: LiveServer, sdk: AuthenticatedClient) -> None:
    s = make_structured_page(server)
    before = httpx.get(s.url("api/v2/status.json"))
    open_incident(sdk, s, "Slow", {"api": "degraded_performance"})
    after = httpx.get(
        s.url("api/v2/status.json"), headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.json()["status"]["indicator"] == "minor"


def test_a_page_on_its_own_domain_serves_the_documents_at_the_root(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    domain = f"status-{uuid.uuid4().hex[:8]}.example.test"
    s = make_structured_page(server, custom_domain=domain)
    open_incident(sdk, s, "Slow", {"api": "degraded_performance"})
    response = httpx.get(f"{server.base_url}/api/v2/summary.json", headers={"Host": domain})
    assert response.status_code == 200
    body = response.json()
    DOCUMENT_SHAPES["summary.json"](body, "summary.json")
    assert body["page"]["id"] == s.page_id
    scheme = server.base_url.split("://")[0]
    assert body["page"]["url"] == f"{scheme}://{domain}"
    assert body["incidents"][0]["shortlink"].startswith(f"{scheme}://{domain}/incidents/")
    assert response.headers["access-control-allow-origin"] == "*"


def test_unknown_documents_are_not_found(scenario: Scenario) -> None:
    assert httpx.get(scenario.url("api/v2/nothing.json")).status_code == 404
    assert httpx.get(f"{scenario.server.base_url}/no-such-page/api/v2/status.json").status_code == (
        404
    )


def test_a_group_inside_a_sub_page_stays_a_group(server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:8]
    keys = [f"s{i}-{tag}" for i in range(3)]
    slug = f"sub-{tag}"
    declare(
        server,
        {
            "components": [{"key": k, "name": f"Part {i}"} for i, k in enumerate(keys)],
            "status_pages": [
                {
                    "slug": slug,
                    "name": "Sub-pages",
                    "items": [
                        {"component": keys[0]},
                        {
                            "sub_page": {
                                "name": "Europe",
                                "items": [
                                    {"group": {"name": "EU core", "components": keys[1:]}},
                                ],
                            }
                        },
                    ],
                }
            ],
        },
    )
    body = httpx.get(f"{server.base_url}/{slug}/api/v2/components.json").json()
    DOCUMENT_SHAPES["components.json"](body, "components.json")
    listed = [(c["name"], c["group"], c["position"]) for c in body["components"]]
    assert listed == [
        ("Part 0", False, 1),
        ("EU core", True, 2),
        ("Part 1", False, 1),
        ("Part 2", False, 2),
    ]
    group = body["components"][1]
    assert [c["group_id"] for c in body["components"][2:]] == [group["id"], group["id"]]


def test_the_maintenance_list_stops_at_fifty_latest_start_first(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=60)
    created = [
        schedule_maintenance(
            sdk,
            s,
            f"Window {n}",
            ["db"],
            base + timedelta(days=n),
            base + timedelta(days=n, hours=1),
        )
        for n in range(52)
    ]
    listed = s.get("scheduled-maintenances.json")["scheduled_maintenances"]
    assert [w["id"] for w in listed] == list(reversed(created))[:50]
    upcoming = s.get("scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [w["id"] for w in upcoming] == created[:50]
