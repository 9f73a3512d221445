"""``clarion export``: a plain static server serves the exported site as Clarion does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from incident_io import AuthenticatedClient

from clarion.cli.main import cli
from tests.factories import PageInfo
from tests.harness import LiveServer, free_port
from tests.public.test_page import post_update, publish


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Python's ``http.server`` serving a fresh directory on loopback."""
    root = tmp_path / "site"
    root.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield root, url
    finally:
        process.terminate()
        process.wait(10)


def run_export(server: LiveServer, *args: str) -> str:
    env = {
        "CLARION_DATABASE_URL": server.settings.database_url,
        "CLARION_BASE_URL": server.base_url,
    }
    result = CliRunner().invoke(cli, ["export", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def comparable(body: bytes) -> bytes:
    """``body`` without today's uptime figures: they depend on the minute they were computed
    (an outage today lowers today's percentage as the day goes on), and the live page and the
    export were rendered moments apart."""
    return re.sub(rb"\d+\.\d\d% uptime", b"N% uptime", body)


def url_path(relative: Path) -> str:
    """The URL path the live site serves a file of the export at."""
    parts = relative.parts
    if parts[-1] == "index.html":
        parts = parts[:-1]
    return "/" + "/".join(parts)


def test_the_exported_site_served_statically_matches_the_live_pages(
    server: LiveServer,
    sdk: AuthenticatedClient,
    page: PageInfo,
    static_server: tuple[Path, str],
) -> None:
    root, static_url = static_server
    component = next(iter(page.components.values()))
    resolved = publish(sdk, page.id, "Exported outage", "It broke.", {component: "full_outage"})
    post_update(sdk, resolved, "Fixed.")
    ongoing = publish(sdk, page.id, "Still going", "Looking.", {component: "degraded_performance"})

    output = run_export(server, str(root), "--page", page.slug)
    assert "exported 1 page(s)" in output

    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    paths = {url_path(f) for f in files}
    slug = page.slug
    for expected in (
        f"/{slug}",
        f"/{slug}/history",
        f"/{slug}/incidents/{resolved}",
        f"/{slug}/incidents/{ongoing}",
        f"/{slug}/static/clarion.css",
        f"/{slug}/api/v2/summary.json",
    ):
        assert expected in paths, expected
    assert any(p.startswith(f"/{slug}/history/") for p in paths)

    with httpx.Client(timeout=30, follow_redirects=True) as client:
        for path in sorted(paths):
            live = client.get(server.base_url + path)
            static = client.get(static_url + path)
            assert live.status_code == 200, path
            assert static.status_code == 200, path
            assert comparable(static.content) == comparable(live.content), path
        # Links inside the pages resolve on the static server too.
        index = client.get(f"{static_url}/{slug}").text
        assert f'href="/{slug}/incidents/{ongoing}"' in index
        assert client.get(f"{static_url}/{slug}/incidents/{ongoing}").status_code == 200


def test_export_at_root_links_from_slash(
    server: LiveServer, page: PageInfo, static_server: tuple[Path, str]
) -> None:
    root, static_url = static_server
    run_export(server, str(root), "--page", page.slug, "--at-root")
    assert (root / "index.html").is_file()
    body = httpx.get(static_url + "/", timeout=30).text
    assert '<link rel="stylesheet" href="/static/clarion.css">' in body
    assert httpx.get(static_url + "/static/clarion.css", timeout=30).status_code == 200
    assert httpx.get(static_url + "/history/", timeout=30).status_code == 200


def test_export_refuses_unknown_pages_and_ambiguous_roots(
    server: LiveServer, tmp_path: Path
) -> None:
    env = {
        "CLARION_DATABASE_URL": server.settings.database_url,
        "CLARION_BASE_URL": server.base_url,
    }
    runner = CliRunner()
    unknown = runner.invoke(cli, ["export", str(tmp_path), "--page", "no-such-page"], env=env)
    assert unknown.exit_code != 0 and "no status page" in unknown.output
    ambiguous = runner.invoke(cli, ["export", str(tmp_path), "--at-root"], env=env)
    assert ambiguous.exit_code != 0 and "--at-root" in ambiguous.output
    assert not any(tmp_path.iterdir())


def test_every_exported_file_is_world_readable(
    server: LiveServer, page: PageInfo, tmp_path: Path
) -> None:
    run_export(server, str(tmp_path), "--page", page.slug)
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert os.stat(file).st_mode & 0o444 == 0o444
            assert not file.name.startswith(".export-")
