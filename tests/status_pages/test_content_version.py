"""The page's ``content_version`` moves once per committed write, without any write locking the
page's row (concurrent writes to one page never queue on it), not at all when the write fails,
and folding the version rows away never changes it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from clarion.context import AppContext
from clarion.status_pages.models import PageVersion
from clarion.status_pages.versions import FOLD_ABOVE, fold_versions
from tests.contract.checks import Raw
from tests.factories import PageInfo
from tests.harness import LiveServer, record_statements
from tests.incidents.test_list_cache import _version


def _create(raw: Raw, page: PageInfo, component_id: str) -> int:
    response = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "Versioned",
            "incident_status": "investigating",
            "message": "Looking",
            "notify_subscribers": True,
            "idempotency_key": uuid.uuid4().hex,
            "component_statuses": [
                {"component_id": component_id, "component_status": "partial_outage"}
            ],
        },
    )
    return response.status_code


def test_a_create_moves_the_version_once_without_touching_the_page_row(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    before = _version(server, page.id)
    with record_statements(server.ctx.db.write_engine) as seen:
        assert _create(raw, page, next(iter(page.components.values()))) == 201
    writes = [
        s.split()[0].upper() + " " + s.split()[1 if s.startswith("UPDATE") else 2]
        for s in seen
        if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    # The version is a new row: no statement locks the page's row.
    assert writes.count("INSERT status_page_versions") == 1, writes
    assert "UPDATE status_pages" not in writes, writes
    assert not any("FOR UPDATE" in s and "status_pages" in s for s in seen), seen
    assert len(writes) >= 4  # incident, update, ledger row, idempotency record or more
    assert _version(server, page.id) == before + 1


def test_a_failed_write_leaves_the_version_alone(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    before = _version(server, page.id)
    assert _create(raw, page, "01NOSUCHCOMPONENT") == 422
    assert _version(server, page.id) == before


def test_concurrent_creates_on_one_page_all_commit_and_each_moves_the_version(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    before = _version(server, page.id)
    component = next(iter(page.components.values()))

    def one(_index: int) -> int:
        client = Raw(server.base_url, token)
        try:
            return _create(client, page, component)
        finally:
            client.close()

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(32)))
    assert statuses == [201] * 32
    assert _version(server, page.id) == before + 32


def _rows(server: LiveServer, page_id: str) -> int:
    async def count(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            found = await session.scalar(
                select(func.count()).where(PageVersion.status_page_id == page_id)
            )
        return int(found or 0)

    return server.call(count)


def test_folding_the_version_rows_keeps_the_version_and_later_writes_still_move_it(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    component = next(iter(page.components.values()))
    for _ in range(FOLD_ABOVE + 1):
        assert _create(raw, page, component) == 201
    before = _version(server, page.id)
    assert _rows(server, page.id) > FOLD_ABOVE

    async def fold(ctx: AppContext) -> int:
        async with ctx.db.write() as session:
            return await fold_versions(session)

    assert server.call(fold) > 0
    assert _rows(server, page.id) == 1  # the newest stays: when the page last changed
    assert _version(server, page.id) == before
    assert server.call(fold) == 0  # nothing more to fold
    assert _create(raw, page, component) == 201
    assert _version(server, page.id) == before + 1
