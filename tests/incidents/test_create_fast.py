"""The fast path of ``POST /v2/status_page_incidents`` (``clarion.incidents.create_fast``): a
plain create is answered before the framework with exactly the full path's status, headers and
bytes, spending one rate-limit token; anything else goes to the full path, which answers as it
always has."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from clarion.incidents import create_fast
from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server

PATH = "/v2/status_page_incidents"
#: Values that differ between any two answers (a new id, one token fewer).
PER_REQUEST = {"x-request-id", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"}


@pytest.fixture(scope="module")
def slow_refill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose buckets do not refill during a test, so tokens can be counted."""
    with (
        fresh_database(str(tmp_path_factory.mktemp("db"))) as url,
        live_server(url, rate_limit_refill_per_second=0.001) as srv,
    ):
        yield srv


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per request the fast path looked at: True when it took it."""
    seen: list[bool] = []
    decide = create_fast._decide

    async def counting(*args: Any) -> Any:
        decided = await decide(*args)
        seen.append(decided is not None)
        return decided

    monkeypatch.setattr(create_fast, "_decide", counting)
    return seen


def _payload(page: PageInfo, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_page_id": page.id,
        "name": "Elevated error rates",
        "incident_status": "investigating",
        "message": "We are looking into it.",
        "notify_subscribers": False,
        "idempotency_key": uuid.uuid4().hex,
        "component_statuses": [
            {
                "component_id": next(iter(page.components.values())),
                "component_status": "degraded_performance",
            }
        ],
    }
    body.update(changes)
    return body


def _fast(client: Raw, body: Any) -> httpx.Response:
    return client.post(
        PATH, content=orjson.dumps(body), headers={"content-type": "application/json"}
    )


def _full(client: Raw, body: Any) -> httpx.Response:
    """The same request with a chunked body (no Content-Length), which the fast path leaves
    to the full path."""
    return client.post(
        PATH, content=iter([orjson.dumps(body)]), headers={"content-type": "application/json"}
    )


def _stable(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, "*" if k in PER_REQUEST else v) for k, v in response.headers.multi_items()]


def _used(response: httpx.Response) -> int:
    return int(response.headers["x-ratelimit-used"])


def _without_request_id(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in response.json().items() if k != "request_id"}


def test_a_create_and_its_replays_answer_exactly_as_the_full_path(
    slow_refill: LiveServer, taken: list[bool]
) -> None:
    page = make_page(slow_refill)
    client = Raw(slow_refill.base_url, make_key(slow_refill))
    body = _payload(page)
    created = _fast(client, body)
    replay_full = _full(client, body)
    replay_fast = _fast(client, body)
    shown = client.get(f"{PATH}/{created.json()['status_page_incident']['id']}")
    client.close()

    assert taken == [True, True]  # the chunked one never reached the fast path's decision
    assert created.status_code == replay_full.status_code == replay_fast.status_code == 201
    assert created.content == replay_full.content == replay_fast.content
    assert _stable(created) == _stable(replay_full) == _stable(replay_fast)
    assert [_used(r) for r in (created, replay_full, replay_fast)] == [1, 2, 3]
    incident = created.json()["status_page_incident"]
    assert incident["name"] == body["name"]
    assert incident["component_impacts"][0]["component_status"] == "degraded_performance"
    # What the fast path wrote reads back as what it answered.
    assert shown.json()["status_page_incident"] == incident


def test_errors_of_the_write_are_the_full_paths_envelopes(
    slow_refill: LiveServer, taken: list[bool]
) -> None:
    page = make_page(slow_refill)
    client = Raw(slow_refill.base_url, make_key(slow_refill))
    reused = _payload(page)
    assert _fast(client, reused).status_code == 201
    cases = [
        (_payload(page, status_page_id="01NOSUCHPAGE"), "status_page_id"),
        (
            _payload(
                page,
                component_statuses=[
                    {"component_id": "01NOSUCHCOMPONENT", "component_status": "full_outage"}
                ],
            ),
            "component_statuses[0].component_id",
        ),
        ({**reused, "name": "Something else"}, "idempotency_key"),
    ]
    for body, field in cases:
        fast = _fast(client, body)
        full = _full(client, body)
        assert fast.status_code == full.status_code == 422, fast.text
        assert error_codes(fast)[0][1] == field
        assert _without_request_id(fast) == _without_request_id(full)
        assert _stable(fast) == _stable(full)
        assert _used(full) == _used(fast) + 1  # one token each
    client.close()
    assert taken == [True] * 4


def test_requests_the_fast_path_does_not_take_get_the_full_paths_answer(
    slow_refill: LiveServer, taken: list[bool]
) -> None:
    page = make_page(slow_refill)
    publisher = Raw(slow_refill.base_url, make_key(slow_refill))
    viewer = Raw(slow_refill.base_url, make_key(slow_refill, "viewer"))
    nobody = Raw(slow_refill.base_url, "not-a-key")
    valid = orjson.dumps(_payload(page))
    json_type = {"content-type": "application/json"}
    cases: list[tuple[Raw, bytes, dict[str, str], int, str]] = [
        (publisher, b"{not json", json_type, 400, "invalid_json"),
        (publisher, orjson.dumps({**_payload(page), "name": ""}), json_type, 422, "is_required"),
        (publisher, orjson.dumps(_payload(page, name="a\u0000b")), json_type, 400, ""),
        (publisher, valid, {"content-type": "text/plain"}, 0, ""),
        (viewer, orjson.dumps(_payload(page)), json_type, 403, "missing_scope"),
        (nobody, orjson.dumps(_payload(page)), json_type, 401, "access_token_invalid"),
    ]
    for client, content, headers, status, code in cases:
        response = client.post(PATH, content=content, headers=headers)
        if status:
            assert response.status_code == status, (content, response.text)
        else:
            assert response.status_code >= 400, response.text
        if code:
            assert code in [c for c, _f, _p in error_codes(response)], response.text
        assert "x-request-id" in response.headers
    for client in (publisher, viewer, nobody):
        client.close()
    assert True not in taken


def test_an_empty_bucket_gets_the_documented_429_and_nothing_is_written(tmp_path: Path) -> None:
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(url, rate_limit_capacity=2, rate_limit_refill_per_second=0.001) as srv,
    ):
        page = make_page(srv)
        client = Raw(srv.base_url, make_key(srv))
        answers = [_fast(client, _payload(page)) for _ in range(3)]
        listed = Raw(srv.base_url, make_key(srv)).get(PATH, params={"status_page_id": page.id})
        client.close()

    assert [a.status_code for a in answers] == [201, 201, 429]
    limited = answers[2]
    assert limited.json()["type"] == "too_many_requests"
    assert limited.json()["rate_limit"]["limit"] == 2
    assert int(limited.headers["retry-after"]) >= 1
    assert len(listed.json()["status_page_incidents"]) == 2
