"""Unknown public paths: a 404 that never breaks the page, HTML for browsers, the envelope for
everyone else."""

from __future__ import annotations

import httpx

from tests.factories import PageInfo
from tests.harness import LiveServer

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_an_unknown_sub_path_does_not_break_the_page_it_belongs_to(
    server: LiveServer, page: PageInfo
) -> None:
    # The 404 is rendered inside a transaction that is rolled back; the page's shared
    # snapshot must survive it, for the very next request and every later one.
    missing = httpx.get(f"{server.base_url}/{page.slug}/no-such-thing", headers=BROWSER)
    assert missing.status_code == 404
    for _ in range(3):
        assert httpx.get(f"{server.base_url}/{page.slug}", headers=BROWSER).status_code == 200
        json_doc = httpx.get(f"{server.base_url}/{page.slug}/api/v2/summary.json")
        assert json_doc.status_code == 200


def test_browsers_get_an_html_404_and_other_clients_the_error_envelope(
    server: LiveServer, page: PageInfo
) -> None:
    for path in ("/no-such-page-anywhere", f"/{page.slug}/no-such-thing", "/v3/anything"):
        html = httpx.get(server.base_url + path, headers=BROWSER)
        assert html.status_code == 404
        assert html.headers["content-type"].startswith("text/html")
        plain = httpx.get(server.base_url + path)
        assert plain.status_code == 404
        body = plain.json()
        assert body["type"] == "not_found" and body["status"] == 404
        assert body["request_id"] == plain.headers["x-request-id"]
        assert body["errors"][0]["code"] == "not_found"
