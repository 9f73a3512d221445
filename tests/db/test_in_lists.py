"""``IN`` lists take a few lengths only, so a page whose incidents grow in number reads them
with a few statements, not one new statement per length."""

from __future__ import annotations

import httpx

from clarion.db.in_lists import padded
from tests.contract.checks import Raw
from tests.factories import PageInfo
from tests.harness import LiveServer, record_statements
from tests.incidents.test_list_incidents import create


def test_a_list_is_padded_to_a_power_of_two_with_its_last_value() -> None:
    assert padded([]) == []
    assert padded(["a"]) == ["a"]
    assert padded(["a", "b", "c"]) == ["a", "b", "c", "c"]
    assert padded(range(5)) == [0, 1, 2, 3, 4, 4, 4, 4]
    for n in range(1, 2000):
        values = [str(i) for i in range(n)]
        found = padded(values)
        assert found[:n] == values and set(found) == set(values)
        assert len(found) & (len(found) - 1) == 0 and len(found) < 2 * n
    assert len({len(padded(range(n))) for n in range(1, 1025)}) == 11


def test_a_page_read_after_each_new_incident_prepares_few_statements(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    """The history page reads the updates of every incident of the month with one ``IN``
    list; over 20 incidents it takes 6 lengths (1 to 32), not 20."""
    texts: set[str] = set()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for n in range(20):
            create(raw, page.id, f"Incident {n}")
            with record_statements(server.ctx.db.read_engine) as seen:
                assert client.get(f"/{page.slug}/history").status_code == 200
            texts.update(s for s in seen if "FROM incident_updates" in s and " IN (" in s)
    assert 1 < len(texts) <= 6, len(texts)
