"""Filters on ``GET /v2/status_page_incidents``: component, group, sub-page and time range."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_page_incidents as list_incidents,
)
from incident_io.types import UNSET

from clarion.incidents import service as incident_service
from tests.contract.checks import check_response
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer


class Scenario:
    """A page with incidents whose spans and components are known.

    - ``a``: c0 full outage, 10 to 9 days ago (retrospective)
    - ``e``: c1 listed as operational only (no status change), 8 to 7 days ago (retrospective)
    - ``b``: c2 (in group Regions) partial outage, 5 to 4 days ago (retrospective)
    - ``c``: c4 (on sub-page Sub) degraded, ongoing
    - ``d``: no components, ongoing
    """

    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {token}"}
        self.page: PageInfo = make_page(server, components=5)
        self.c = sorted(self.page.components.items())  # [(key, id)] c0..c4
        self.now = server.clock.now().replace(microsecond=0)
        self.ids: dict[str, str] = {}
        self.ids["a"] = self.retro(10, 9, self.cid(0), "full_outage")
        self.ids["e"] = self.retro(8, 7, self.cid(1), "operational")
        self.ids["b"] = self.retro(5, 4, self.cid(2), "partial_outage")
        self.ids["c"] = self.live(self.cid(4), "degraded_performance")
        self.ids["d"] = self.live(None, None)

    def cid(self, index: int) -> str:
        return self.c[index][1]

    def day(self, days_ago: float) -> datetime:
        return self.now - timedelta(days=days_ago)

    def retro(self, start: float, end: float, component: str, status: str) -> str:
        response = httpx.post(
            f"{self.server.base_url}/v2/status_page_retrospective_incidents",
            headers=self.headers,
            json={
                "status_page_id": self.page.id,
                "name": "Past",
                "idempotency_key": uuid.uuid4().hex,
                "updates": [
                    {
                        "incident_status": "investigating",
                        "message": "m",
                        "published_at": self.day(start).isoformat(),
                        "component_statuses": [
                            {"component_id": component, "component_status": status}
                        ],
                    },
                    {
                        "incident_status": "resolved",
                        "message": "m",
                        "published_at": self.day(end).isoformat(),
                    },
                ],
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["status_page_incident"]["id"])

    def live(self, component: str | None, status: str | None) -> str:
        body: dict[str, Any] = {
            "status_page_id": self.page.id,
            "name": "Now",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        }
        if component:
            body["component_statuses"] = [{"component_id": component, "component_status": status}]
        response = httpx.post(
            f"{self.server.base_url}/v2/status_page_incidents", headers=self.headers, json=body
        )
        assert response.status_code == 201, response.text
        return str(response.json()["status_page_incident"]["id"])

    def names(self, ids: list[str]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i] for i in ids]


@pytest.fixture
def scenario(server: LiveServer, token: str) -> Scenario:
    return Scenario(server, token)


def _list(sdk: AuthenticatedClient, scenario: Scenario, **filters: Any) -> list[str]:
    response = list_incidents.sync_detailed(
        client=sdk, status_page_id=scenario.page.id, page_size=250, **filters
    )
    assert response.status_code == 200, response.content
    return scenario.names([i.id for i in response.parsed.status_page_incidents])


def test_each_structure_filter_finds_the_incidents_that_touched_its_components(
    sdk: AuthenticatedClient, scenario: Scenario
) -> None:
    assert _list(sdk, scenario) == ["d", "c", "b", "e", "a"]
    assert _list(sdk, scenario, component_id=scenario.cid(0)) == ["a"]
    # Only listing a component as operational changes nothing, so it does not match.
    assert _list(sdk, scenario, component_id=scenario.cid(1)) == []
    assert _list(sdk, scenario, group_id=scenario.page.groups["Regions"]) == ["b"]
    assert _list(sdk, scenario, sub_page_id=scenario.page.sub_pages["Sub"]) == ["c"]
    assert _list(sdk, scenario, component_id="unknown-component") == []
    # Filters combine with AND.
    group = scenario.page.groups["Regions"]
    assert _list(sdk, scenario, group_id=group, component_id=scenario.cid(2)) == ["b"]
    assert _list(sdk, scenario, group_id=group, component_id=scenario.cid(0)) == []


def test_time_filters_keep_incidents_whose_active_span_touches_the_range(
    sdk: AuthenticatedClient, scenario: Scenario
) -> None:
    day = scenario.day
    assert _list(sdk, scenario, start_at=day(6)) == ["d", "c", "b"]
    assert _list(sdk, scenario, end_at=day(8.5)) == ["a"]
    assert _list(sdk, scenario, start_at=day(9.5), end_at=day(7.5)) == ["e", "a"]
    # A span touching the range at its very edge counts.
    assert _list(sdk, scenario, start_at=day(4), end_at=day(4)) == ["b"]
    assert _list(sdk, scenario, start_at=day(6), component_id=scenario.cid(0)) == []
    # Ongoing incidents are active until now and after.
    future = scenario.now + timedelta(days=3)
    assert _list(sdk, scenario, start_at=future) == ["d", "c"]


def test_filtered_lists_paginate_with_the_after_cursor(
    sdk: AuthenticatedClient, scenario: Scenario
) -> None:
    seen: list[str] = []
    after: Any = UNSET
    for _ in range(10):
        response = list_incidents.sync_detailed(
            client=sdk,
            status_page_id=scenario.page.id,
            start_at=scenario.day(8.5),
            page_size=1,
            after=after,
        ).parsed
        seen += [i.id for i in response.status_page_incidents]
        after = response.pagination_meta.after
        if after is UNSET:
            break
    assert scenario.names(seen) == ["d", "c", "b", "e"]


def test_bad_filters_are_422s_pointing_at_the_parameter(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    other = make_page(server, components=3)
    url = f"{server.base_url}/v2/status_page_incidents"
    headers = {"Authorization": f"Bearer {token}"}
    cases = [
        ({"group_id": "nope"}, "not_found", "group_id"),
        ({"group_id": other.groups["Regions"]}, "not_found", "group_id"),
        ({"sub_page_id": page.groups["Regions"]}, "not_found", "sub_page_id"),
        ({"start_at": "last tuesday"}, "invalid_value", "start_at"),
        (
            {"start_at": "2026-01-02T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"},
            "invalid_value",
            "end_at",
        ),
    ]
    for params, code, field in cases:
        response = httpx.get(url, headers=headers, params={"status_page_id": page.id, **params})
        assert response.status_code == 422, (params, response.text)
        check_response(response)
        (error,) = response.json()["errors"]
        assert (error["code"], error["source"]["field"]) == (code, field), params
    # Empty values are "not set", as incident.io allows empty query values.
    empty = httpx.get(
        url, headers=headers, params={"status_page_id": page.id, "component_id": "", "start_at": ""}
    )
    assert empty.status_code == 200


@pytest.mark.parametrize("few_rows", [0, 1000])
def test_both_query_plans_for_component_filters_give_the_same_answers(
    sdk: AuthenticatedClient, scenario: Scenario, monkeypatch: pytest.MonkeyPatch, few_rows: int
) -> None:
    # 0 forces the newest-first EXISTS scan; 1000 the lookup by incident id.
    monkeypatch.setattr(incident_service, "FEW_LEDGER_ROWS", few_rows)
    group = scenario.page.groups["Regions"]
    assert _list(sdk, scenario, component_id=scenario.cid(0)) == ["a"]
    assert _list(sdk, scenario, group_id=group) == ["b"]
    assert _list(sdk, scenario, sub_page_id=scenario.page.sub_pages["Sub"]) == ["c"]
    assert _list(sdk, scenario, component_id="unknown-component") == []
    assert _list(sdk, scenario, start_at=scenario.day(6), group_id=group) == ["b"]
