"""The public site outlives its database: with the database taken away (PostgreSQL refusing
connections, the SQLite file moved) or a table locked by a frozen process, ``clarion serve``
answers the page and its Statuspage JSON from their last renders, within a bound, saying so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cli.serving import clarion_serve, database_with_a_page, publisher_token
from tests.contract.checks import check_response
from tests.factories import make_page
from tests.harness import fresh_database, live_server
from tests.health.outages import database_taken_away, frozen_lock_holder

#: How long the database stays away (the issue's minute, for real).
OUTAGE_SECONDS = 60
#: ``CLARION_PUBLIC_READ_DEADLINE_SECONDS`` of these servers, and the slack a loaded machine
#: gets on top of it.
DEADLINE = 1.0
SLACK = 1.5
#: ``CLARION_PUBLIC_VERSION_TTL_SECONDS`` and ``CLARION_DB_LOCK_TIMEOUT_SECONDS`` of these
#: servers.
VERSION_TTL = 0.5
LOCK_TIMEOUT = 2.0
NOTICE = "This page could not be refreshed."


def _incident(base: str, token: str, name: str) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        pages = api.get("/v2/status_pages").json()["status_pages"]
        created = api.post(
            "/v2/status_page_incidents",
            json={
                "status_page_id": pages[0]["id"],
                "name": name,
                "incident_status": "investigating",
                "message": "Looking into it.",
                "notify_subscribers": False,
                "idempotency_key": name,
            },
        )
        assert created.status_code == 201, created.text


@contextmanager
def _site(folder: Path) -> Iterator[tuple[str, str, httpx.Client, str]]:
    """``clarion serve`` on a database whose page has the incident "Checkout is slow"; yields
    the database URL, the base URL, a client of it and a publisher's key."""
    with (
        database_with_a_page(folder) as url,
        clarion_serve(
            url,
            folder / "serve.log",
            CLARION_PUBLIC_READ_DEADLINE_SECONDS=str(DEADLINE),
            CLARION_PUBLIC_VERSION_TTL_SECONDS=str(VERSION_TTL),
            CLARION_DB_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT),
            CLARION_READY_DEADLINE_SECONDS="1",
        ) as (_process, base),
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        token = publisher_token(url)
        _incident(base, token, "Checkout is slow")
        yield url, base, client, token


def test_the_page_and_summary_json_answer_from_their_last_render_for_a_minute_without_the_database(
    tmp_path: Path,
) -> None:
    with _site(tmp_path) as (url, base, client, token):
        page = client.get("/workers")
        summary = client.get("/workers/api/v2/summary.json")
        assert page.status_code == summary.status_code == 200
        assert "Checkout is slow" in page.text and NOTICE not in page.text
        assert "age" not in page.headers

        with database_taken_away(url):
            time.sleep(VERSION_TTL)  # until then, the page's version is still taken as current
            started = time.monotonic()
            ages: list[int] = []
            slowest = 0.0
            while time.monotonic() - started < OUTAGE_SECONDS:
                for path in ("/workers", "/workers/api/v2/summary.json"):
                    asked = time.monotonic()
                    answer = client.get(path)
                    slowest = max(slowest, time.monotonic() - asked)
                    assert answer.status_code == 200, (path, answer.text)
                    if path == "/workers":
                        # The last render, saying since when it could not be refreshed.
                        assert "Checkout is slow" in answer.text
                        assert NOTICE in answer.text
                        assert answer.headers["etag"] != page.headers["etag"]
                        ages.append(int(answer.headers["age"]))
                    else:
                        assert answer.content == summary.content  # the last render's bytes
                        assert "age" in answer.headers
                time.sleep(1)
            # Everything else that needs the database says so in the envelope; liveness holds.
            api = client.get(
                "/v2/status_page_incidents", headers={"Authorization": f"Bearer {token}"}
            )
            check_response(api)
            assert api.status_code == 503
            assert api.json()["errors"][0]["code"].startswith("database_")
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
        assert slowest < DEADLINE + SLACK, slowest
        assert ages[-1] >= OUTAGE_SECONDS - 5 and ages == sorted(ages), ages

        # The database back: fresh answers again, and writes show.
        deadline = time.monotonic() + 30
        while NOTICE in client.get("/workers").text:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        _incident(base, token, "Payments are failing")
        deadline = time.monotonic() + 10
        while "Payments are failing" not in client.get("/workers").text:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200


def test_the_page_answers_within_a_bound_while_a_frozen_process_holds_a_lock(
    tmp_path: Path,
) -> None:
    """PostgreSQL: a frozen session holds ``LOCK TABLE`` on the page's tables (every read of
    them waits); SQLite: a frozen process holds the write lock. The page answers within the
    read deadline (from its last render where the database cannot answer), a write is refused
    with a 503 within the lock timeout, and ``/readyz`` fails within its deadline."""
    with _site(tmp_path) as (url, _base, client, token):
        auth = {"Authorization": f"Bearer {token}"}
        page_id = client.get("/v2/status_pages", headers=auth).json()["status_pages"][0]["id"]
        assert client.get("/workers").status_code == 200
        assert client.get("/readyz").status_code == 200
        with frozen_lock_holder(url):
            time.sleep(VERSION_TTL + 0.2)  # the page's memoised version expires
            for _ in range(3):
                asked = time.monotonic()
                answer = client.get("/workers")
                took = time.monotonic() - asked
                assert answer.status_code == 200 and "Checkout is slow" in answer.text
                assert took < DEADLINE + SLACK, took
            asked = time.monotonic()
            write = client.post(
                "/v2/status_page_incidents",
                headers=auth,
                json={
                    "status_page_id": page_id,
                    "name": "Not now",
                    "incident_status": "investigating",
                    "message": "Looking into it.",
                    "notify_subscribers": False,
                    "idempotency_key": "not-now",
                },
            )
            took = time.monotonic() - asked
            check_response(write)
            assert write.status_code == 503, write.text
            assert write.json()["errors"][0]["code"] == "database_busy"
            assert took < LOCK_TIMEOUT + SLACK + 1, took
            asked = time.monotonic()
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert time.monotonic() - asked < 1 + SLACK
        assert client.get("/readyz").status_code == 200


def test_stale_answers_have_their_own_etag_and_what_was_never_rendered_is_a_503(
    tmp_path: Path,
) -> None:
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(
            url, public_read_deadline_seconds=DEADLINE, public_version_ttl_seconds=VERSION_TTL
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        page = make_page(server, components=1)
        fresh = client.get(f"/{page.slug}/feed.atom")
        assert fresh.status_code == 200
        with database_taken_away(url):
            time.sleep(VERSION_TTL + 0.2)
            stale = client.get(f"/{page.slug}/feed.atom")
            assert stale.status_code == 200 and stale.content == fresh.content
            assert stale.headers["etag"] != fresh.headers["etag"] and "age" in stale.headers
            again = client.get(
                f"/{page.slug}/feed.atom", headers={"If-None-Match": stale.headers["etag"]}
            )
            assert again.status_code == 304 and "age" in again.headers
            head = client.head(f"/{page.slug}/feed.atom")
            assert head.status_code == 200 and head.content == b""
            never = client.get(f"/{page.slug}/feed.rss")  # not rendered before the outage
            check_response(never)
            assert never.status_code == 503
            assert never.json()["errors"][0]["code"] == "database_unavailable"
        # Back: a check a second finds it, and the fresh answer returns.
        deadline = time.monotonic() + 5
        while (back := client.get(f"/{page.slug}/feed.atom")).headers["etag"] != fresh.headers[
            "etag"
        ]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "age" not in back.headers
