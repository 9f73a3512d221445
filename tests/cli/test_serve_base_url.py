"""``clarion serve`` derives the public base URL from where it listens, unless
``CLARION_BASE_URL`` says otherwise: the API's ``public_url`` and the feeds' links follow."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.serving import clarion_serve, publisher_token


def public_links(base: str, token: str) -> tuple[str, str]:
    """The page's ``public_url`` from the API and its Atom feed."""
    (page,) = httpx.get(
        f"{base}/v2/status_pages", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["status_pages"]
    return page["public_url"], httpx.get(f"{base}/workers/feed.atom", timeout=30).text


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_links_to_its_own_port_when_no_base_url_is_set(
    database: str, tmp_path: Path, workers: str
) -> None:
    token = publisher_token(database)
    with clarion_serve(
        database, tmp_path / "serve.log", "--workers", workers, CLARION_BASE_URL=""
    ) as (_process, base):
        public_url, feed = public_links(base, token)
    assert public_url == f"{base}/workers"
    assert f'href="{base}/workers' in feed


def test_serve_links_to_the_base_url_when_it_is_set(database: str, tmp_path: Path) -> None:
    token = publisher_token(database)
    public = "https://status.example.com"
    with clarion_serve(database, tmp_path / "serve.log", CLARION_BASE_URL=public) as (_p, base):
        public_url, feed = public_links(base, token)
    assert public_url == f"{public}/workers"
    assert f'href="{public}/workers' in feed
    assert base not in feed
