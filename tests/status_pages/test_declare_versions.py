"""``clarion apply`` and the public page: a renamed component shows at once."""

from __future__ import annotations

import uuid

import httpx

from tests.factories import declare
from tests.harness import LiveServer


def _declaration(key: str, slug: str, name: str) -> dict[str, object]:
    return {
        "components": [{"key": key, "name": name}],
        "status_pages": [{"slug": slug, "name": "Renames", "items": [{"component": key}]}],
    }


def test_renaming_a_component_shows_on_the_public_page_on_the_next_request(
    server: LiveServer,
) -> None:
    tag = uuid.uuid4().hex[:8]
    key, slug = f"api-{tag}", f"renames-{tag}"
    declare(server, _declaration(key, slug, "Old API name"))
    url = f"{server.base_url}/{slug}"
    first = httpx.get(url, headers={"Accept": "text/html"})
    assert first.status_code == 200 and "Old API name" in first.text

    assert declare(server, _declaration(key, slug, "New API name")) == [
        f"updated component {key}: name"
    ]
    second = httpx.get(url, headers={"Accept": "text/html"})
    assert "New API name" in second.text and "Old API name" not in second.text
    assert second.headers["etag"] != first.headers["etag"]
