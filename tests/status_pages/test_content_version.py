"""The page's ``content_version`` moves once per write, at commit (on PostgreSQL its row lock is
then held only inside the commit), and not at all when the write fails."""

from __future__ import annotations

import uuid

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


def _target(statement: str) -> str:
    """``"INSERT incidents"``, ``"UPDATE status_pages"``: the verb and its table."""
    words = statement.split()
    return f"{words[0].upper()} {words[1 if words[0].upper() == 'UPDATE' else 2]}"


def test_a_create_bumps_the_version_once_without_locking_the_page_before_commit(
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
    # The bump is a row in pending_page_bumps, which the database applies (a trigger,
    # deferred to the commit on PostgreSQL): no statement from here locks the page's row.
    assert writes.count("INSERT pending_page_bumps") == 1, writes
    assert "UPDATE status_pages" not in writes, writes
    assert len(writes) >= 4  # incident, update, ledger row, idempotency record or more
    assert _version(server, page.id) == before + 1


def test_a_failed_write_leaves_the_version_alone(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    before = _version(server, page.id)
    assert _create(raw, page, "01NOSUCHCOMPONENT") == 422
    assert _version(server, page.id) == before
