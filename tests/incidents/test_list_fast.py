"""The fast path of ``GET /v2/status_page_incidents`` (``clarion.incidents.list_fast``): a
cached list is answered with one statement and exactly the full path's status, headers and
bytes; it spends one rate-limit token like the full path, and anything unusual goes to the
full path."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from clarion.api_keys.service import revoke_key
from clarion.context import AppContext
from tests.contract.checks import Raw
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server, record_statements
from tests.incidents.test_list_incidents import create

PATH = "/v2/status_page_incidents"
#: Values that differ between any two answers (a new id, one token fewer).
PER_REQUEST = {"x-request-id", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"}


def statements(server: LiveServer) -> AbstractContextManager[list[str]]:
    """The SQL statements the server's read engine runs inside the block."""
    return record_statements(server.ctx.db.read_engine)


def _stable(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, "*" if k in PER_REQUEST else v) for k, v in response.headers.multi_items()]


def test_a_cached_list_costs_one_statement_and_answers_exactly_as_the_full_path(
    tmp_path: Path,
) -> None:
    # Buckets that do not refill during the test, so that each token spent shows.
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(url, rate_limit_refill_per_second=0.001) as server,
    ):
        page = make_page(server)
        raw = Raw(server.base_url, make_key(server))
        _compare_fast_and_full(server, raw, page)
        raw.close()


def _compare_fast_and_full(server: LiveServer, raw: Raw, page: PageInfo) -> None:
    create(raw, page.id, "Fast one")
    create(raw, page.id, "Fast two")
    params = {"status_page_id": page.id, "page_size": "1"}
    first = raw.get(PATH, params=params)  # a miss: built and stored by the full path
    with statements(server) as full:
        # A body (ignored by a list) is not for the fast path: the full path answers this
        # one, from the same stored bytes.
        through_full = raw.request("GET", PATH, params=params, content=b" ")
    with statements(server) as fast:
        through_fast = raw.get(PATH, params=params)

    assert len(fast) == 1, fast
    assert len(full) == 2, full  # the key, then the page's version
    assert first.status_code == through_full.status_code == through_fast.status_code == 200
    assert first.content == through_full.content == through_fast.content
    assert _stable(through_fast) == _stable(through_full)
    assert through_fast.json()["pagination_meta"]["after"]
    used = [int(r.headers["x-ratelimit-used"]) for r in (first, through_full, through_fast)]
    assert used == [used[0], used[0] + 1, used[0] + 2]  # one token each


def test_requests_the_fast_path_does_not_take_get_the_full_paths_answer(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    create(raw, page.id, "Listed")
    raw.get(PATH, params={"status_page_id": page.id})  # stored
    cases: list[tuple[dict[str, str], int]] = [
        ({"status_page_id": page.id, "page_size": "0"}, 422),
        ({"status_page_id": page.id, "page_size": "251"}, 422),
        ({"status_page_id": page.id, "page_size": "ten"}, 422),
        ({"status_page_id": page.id, "page_size": "+5"}, 200),
        ({"status_page_id": "x" * 65}, 422),
        ({"status_page_id": "01UNKNOWNPAGE"}, 422),
        ({"status_page_id": page.id, "component_id": "01NOTONTHEPAGE"}, 200),
        ({"status_page_id": page.id, "unknown": "ignored"}, 200),
    ]
    for params, status in cases:
        response = raw.get(PATH, params=params)
        assert response.status_code == status, (params, response.text)
        assert "x-ratelimit-used" in response.headers


def test_a_revoked_key_gets_401_on_its_next_cached_list(server: LiveServer, page: PageInfo) -> None:
    token = make_key(server, "viewer", name="soon revoked")
    client = Raw(server.base_url, token)
    params = {"status_page_id": page.id}
    assert client.get(PATH, params=params).status_code == 200
    assert client.get(PATH, params=params).status_code == 200  # cached now

    async def revoke(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await revoke_key(session, "soon revoked", ctx.clock.now())

    server.call(revoke)
    response = client.get(PATH, params=params)
    client.close()
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "access_token_invalid"


def test_the_fast_path_spends_the_bucket_exactly_and_answers_429_as_documented(
    tmp_path: Path,
) -> None:
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(url, rate_limit_capacity=5, rate_limit_refill_per_second=0.001) as srv,
    ):
        page = make_page(srv)
        client = Raw(srv.base_url, make_key(srv, "viewer"))
        params = {"status_page_id": page.id}
        with statements(srv) as fast:
            answers = [client.get(PATH, params=params) for _ in range(7)]
        full_429 = client.get(PATH, params={**params, "page_size": "7"})  # not cached
        client.close()

    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert len(fast) > 0
    limited = answers[5]
    body = limited.json()
    assert body["type"] == "too_many_requests"
    assert body["rate_limit"]["limit"] == 5 and body["rate_limit"]["remaining"] == 0
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert full_429.status_code == 429
    assert _stable(limited) == _stable(full_429)
    full_body = full_429.json()
    # Each answer says when its own wait ends, to the second: the two requests may straddle one.
    waits = [datetime.fromisoformat(b["rate_limit"].pop("retry_after")) for b in (body, full_body)]
    assert timedelta(0) <= waits[1] - waits[0] <= timedelta(seconds=1)
    assert {k: v for k, v in body.items() if k != "request_id"} == {
        k: v for k, v in full_body.items() if k != "request_id"
    }
