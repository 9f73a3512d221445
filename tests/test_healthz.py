"""``GET /healthz``: liveness, 200 while the process answers, without asking the database
(``/readyz`` asks it: ``tests/health``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clarion.context import AppContext
from tests.contract.checks import check_response
from tests.harness import LiveServer, fresh_database, live_server


def test_healthz_is_200_without_a_key_when_the_database_answers(server: LiveServer) -> None:
    response = httpx.get(server.base_url + "/healthz")
    check_response(response)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    head = httpx.head(server.base_url + "/healthz")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == response.headers["content-length"]


@pytest.fixture
def doomed_server(tmp_path: Path) -> Iterator[LiveServer]:
    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        yield srv


def test_healthz_stays_200_and_readyz_is_a_503_envelope_when_the_database_is_gone(
    doomed_server: LiveServer,
) -> None:
    assert httpx.get(doomed_server.base_url + "/healthz").status_code == 200

    async def break_database(ctx: AppContext) -> None:
        # Point the server at a database that cannot be reached.
        from clarion.db.engine import Database

        await ctx.db.dispose()
        if ctx.db.is_sqlite:
            ctx.db = Database("sqlite+aiosqlite:////nonexistent-dir/clarion/none.db")
        else:
            ctx.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")

    doomed_server.call(break_database)
    assert httpx.get(doomed_server.base_url + "/healthz", timeout=30).status_code == 200
    response = httpx.get(doomed_server.base_url + "/readyz", timeout=30)
    check_response(response)
    assert response.status_code == 503
    assert httpx.head(doomed_server.base_url + "/readyz", timeout=30).status_code == 503
    body = response.json()
    assert body["status"] == 503
    assert body["errors"][0]["code"] == "database_unavailable"
