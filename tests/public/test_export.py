"""``clarion export``, run as users run it (``python -m clarion`` in a subprocess): a plain
static server serves the exported site as Clarion does, and a re-export writes only what
changed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from incident_io import AuthenticatedClient
from sqlalchemy import delete

from clarion.context import AppContext
from clarion.public.export import ExportReport, Helper, export_site
from clarion.status_pages.models import StatusPage
from tests.contract.cli import cli_environment
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer, free_port
from tests.maintenances.helpers import create_window
from tests.public.test_page import post_update, publish

MANIFEST = ".clarion-export.json"
SUMMARY = re.compile(
    r"^exported (?P<pages>\d+) page\(s\), (?P<files>\d+) files \((?P<written>\d+) written, "
    r"(?P<unchanged>\d+) unchanged, (?P<removed>\d+) removed\) in [\d.]+ s, to .+$"
)
SUBSCRIBE = re.compile(rb'<a class="button" href="([^"]*)">Subscribe to updates</a>')


def run_export(
    server: LiveServer, *args: str, check: bool = True, base_url: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m clarion export ARGS`` against the live server's database, with
    ``CLARION_BASE_URL`` set to its address (unless ``base_url`` is False)."""
    settings = {"CLARION_BASE_URL": server.base_url} if base_url else {}
    result = subprocess.run(
        [sys.executable, "-m", "clarion", "export", *args],
        capture_output=True,
        text=True,
        env=cli_environment(server.settings.database_url, **settings),
        timeout=300,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The export's one summary line, which is all it prints when stdout is not a terminal."""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    found = SUMMARY.match(lines[0])
    assert found is not None, lines[0]
    return {k: int(v) for k, v in found.groupdict().items()}


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


def comparable(body: bytes) -> bytes:
    """``body`` without today's uptime figures, which depend on the minute they were computed
    (an outage today lowers today's percentage as the day goes on; the live page and the export
    were rendered moments apart), and without the subscribe link (see
    ``test_subscribe_leads_to_the_live_site``)."""
    body = re.sub(rb"\d+\.\d\d% uptime", b"N% uptime", body)
    return SUBSCRIBE.sub(b"SUBSCRIBE", body)


def url_path(relative: Path) -> str:
    """The URL path the live site serves a file of the export at."""
    parts = relative.parts
    if parts[-1] == "index.html":
        parts = parts[:-1]
    return "/" + "/".join(parts)


def exported_files(root: Path) -> dict[str, os.stat_result]:
    """Every file of the export (the manifest left out), by path relative to ``root``."""
    return {
        p.relative_to(root).as_posix(): p.stat()
        for p in root.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }


def test_the_exported_site_served_statically_matches_the_live_pages(
    server: LiveServer,
    sdk: AuthenticatedClient,
    page: PageInfo,
    static_server: tuple[Path, str],
) -> None:
    root, static_url = static_server
    component = next(iter(page.components.values()))
    resolved = publish(sdk, page.id, "Exported outage", "It *broke*.", {component: "full_outage"})
    post_update(sdk, resolved, "Fixed, see [the notes](https://example.com/notes).")
    ongoing = publish(sdk, page.id, "Still going", "Looking.", {component: "degraded_performance"})
    now = datetime.now(UTC)
    window = create_window(
        sdk, page.id, [component], now + timedelta(days=2), now + timedelta(days=2, hours=1)
    )

    assert summary(run_export(server, str(root), "--page", page.slug))["pages"] == 1

    files = sorted(Path(p) for p in exported_files(root))
    paths = {url_path(f) for f in files}
    slug = page.slug
    for expected in (
        f"/{slug}",
        f"/{slug}/history",
        f"/{slug}/incidents/{resolved}",
        f"/{slug}/incidents/{ongoing}",
        f"/{slug}/maintenance/{window.id}",
        f"/{slug}/static/clarion.css",
        f"/{slug}/api/v2/summary.json",
        f"/{slug}/feed.atom",
        f"/{slug}/maintenance.ics",
        f"/{slug}/badge.svg",
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


def test_subscribe_leads_to_the_live_site(
    server: LiveServer, page: PageInfo, tmp_path: Path
) -> None:
    """A static copy cannot take subscriptions: its link goes to the live subscribe page, while
    the live site's own link stays relative; without CLARION_BASE_URL the export says so."""
    result = run_export(server, str(tmp_path), "--page", page.slug)
    assert result.stderr == ""
    for html in (tmp_path / page.slug).rglob("index.html"):
        links = SUBSCRIBE.findall(html.read_bytes())
        assert links == [f"{server.base_url}/{page.slug}/subscribe".encode()], html
    live = httpx.get(f"{server.base_url}/{page.slug}", timeout=30).content
    assert SUBSCRIBE.findall(live) == [f"/{page.slug}/subscribe".encode()]
    assert httpx.get(f"{server.base_url}/{page.slug}/subscribe", timeout=30).status_code == 200

    at_root = tmp_path / "root"
    run_export(server, str(at_root), "--page", page.slug, "--at-root")
    links = SUBSCRIBE.findall((at_root / "index.html").read_bytes())
    assert links == [f"{server.base_url}/{page.slug}/subscribe".encode()]

    unset = run_export(server, str(tmp_path / "unset"), "--page", page.slug, base_url=False)
    assert unset.stderr.count("\n") == 1 and "CLARION_BASE_URL is not set" in unset.stderr


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
    unknown = run_export(server, str(tmp_path), "--page", "no-such-page", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr == "Error: no status page with slug no-such-page\n"
    ambiguous = run_export(server, str(tmp_path), "--at-root", check=False)
    assert ambiguous.returncode == 1 and "--at-root" in ambiguous.stderr
    assert not any(tmp_path.iterdir())


def test_every_exported_file_is_world_readable(
    server: LiveServer, page: PageInfo, tmp_path: Path
) -> None:
    run_export(server, str(tmp_path), "--page", page.slug)
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert os.stat(file).st_mode & 0o444 == 0o444
            assert not file.name.startswith(".export-")


def test_a_re_export_renders_and_writes_only_what_changed(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo, tmp_path: Path
) -> None:
    component = next(iter(page.components.values()))
    older = [
        publish(sdk, page.id, f"Outage {n}", "It broke.", {component: "partial_outage"})
        for n in range(3)
    ]
    for incident in older:
        post_update(sdk, incident, "Fixed.")
    first = summary(run_export(server, str(tmp_path), "--page", page.slug))
    assert first["written"] == first["files"]
    before = exported_files(tmp_path)
    slug = page.slug

    # Nothing changed: no page of an incident or of the history is rendered or written.
    again = summary(run_export(server, str(tmp_path), "--page", page.slug))
    assert again["files"] == first["files"] and again["removed"] == 0
    after = exported_files(tmp_path)
    keyed = [f for f in before if f.split("/")[1] in ("incidents", "history", "maintenance")]
    assert keyed and all(after[f].st_mtime_ns == before[f].st_mtime_ns for f in keyed)

    # One new incident: its page, its month (and "history"), the page, feeds and JSON that show
    # it; no other incident's page.
    new = publish(sdk, page.id, "A new outage", "Looking.", {component: "full_outage"})
    post_update(sdk, older[0], "A late note on this one.", status="resolved")
    third = summary(run_export(server, str(tmp_path), "--page", page.slug))
    after = exported_files(tmp_path)
    rewritten = {
        f for f in after if f not in before or after[f].st_mtime_ns != before[f].st_mtime_ns
    }
    month = datetime.now(UTC).strftime("%Y-%m")
    assert f"{slug}/incidents/{new}/index.html" in rewritten
    assert f"{slug}/incidents/{older[0]}/index.html" in rewritten
    assert {f"{slug}/history/index.html", f"{slug}/history/{month}/index.html"} <= rewritten
    assert {f"{slug}/index.html", f"{slug}/api/v2/summary.json", f"{slug}/feed.atom"} <= rewritten
    for untouched in older[1:]:
        assert f"{slug}/incidents/{untouched}/index.html" not in rewritten
    assert not any(f.startswith(f"{slug}/static/") for f in rewritten)
    assert third["written"] == len(rewritten) and third["files"] == first["files"] + 1
    assert (
        b"A late note on this one."
        in (tmp_path / slug / "incidents" / older[0] / "index.html").read_bytes()
    )

    # --full renders and writes everything.
    full = summary(run_export(server, str(tmp_path), "--page", page.slug, "--full"))
    assert full["written"] == full["files"] == third["files"]


def test_a_re_export_removes_what_no_longer_exists_and_nothing_else(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo, token: str, tmp_path: Path
) -> None:
    component = next(iter(page.components.values()))
    now = datetime.now(UTC)
    window = create_window(
        sdk, page.id, [component], now + timedelta(days=1), now + timedelta(days=1, hours=2)
    )
    gone = make_page(server, components=2)
    run_export(server, str(tmp_path), "--page", page.slug, "--page", gone.slug)
    window_page = tmp_path / page.slug / "maintenance" / window.id / "index.html"
    assert window_page.is_file() and (tmp_path / gone.slug / "index.html").is_file()
    mine = [tmp_path / "notes.txt", tmp_path / page.slug / "extra.html", tmp_path / gone.slug / "x"]
    for path in mine:
        path.write_text("not Clarion's")
    # A manifest can only ever remove files inside the export.
    outside = tmp_path.parent / f"outside-{page.slug}.txt"
    outside.write_text("keep")
    manifest = orjson.loads((tmp_path / MANIFEST).read_bytes())
    manifest["files"][f"../{outside.name}"] = [gone.id, None]
    (tmp_path / MANIFEST).write_bytes(orjson.dumps(manifest))

    deleted = httpx.delete(
        f"{server.base_url}/v2/status_page_maintenances/{window.id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert deleted.status_code == 204

    async def delete_page(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await session.execute(delete(StatusPage).where(StatusPage.id == gone.id))

    server.call(delete_page)
    result = summary(run_export(server, str(tmp_path), "--page", page.slug))
    assert not window_page.exists() and not window_page.parent.exists()
    assert not (tmp_path / gone.slug / "index.html").exists()
    assert result["removed"] >= 2
    assert all(path.read_text() == "not Clarion's" for path in mine)
    assert outside.read_text() == "keep"
    listed = orjson.loads((tmp_path / MANIFEST).read_bytes())["files"]
    assert not any(rel.startswith(f"{gone.slug}/") for rel in listed)


def test_progress_shows_on_a_terminal_only(
    server: LiveServer, page: PageInfo, tmp_path: Path
) -> None:
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "clarion", "export", str(tmp_path), "--page", page.slug],
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=cli_environment(server.settings.database_url, CLARION_BASE_URL=server.base_url),
    )
    os.close(secondary)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(300) == 0
    os.close(primary)
    text = shown.decode()
    assert "Exporting" in text and re.search(r"\d+/\d+", text), text
    assert SUMMARY.match(text.strip().splitlines()[-1].strip().split("\r")[-1]), text
    # Not a terminal: the summary line only (``summary`` checks it is the one line).
    summary(run_export(server, str(tmp_path), "--page", page.slug))


def test_bad_targets_are_one_line_errors(
    server: LiveServer, page: PageInfo, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    cases = [
        (a_file, f"cannot export to {a_file}: it is a file, not a directory"),
        (a_file / "site", f"cannot create {a_file / 'site'}: {a_file} is a file, not a directory"),
    ]
    if os.geteuid() == 0:  # permission bits do not stop root: places where nobody can write
        cases += [
            (Path("/proc/clarion-export"), "cannot create /proc/clarion-export: "),
            (Path("/proc"), "cannot write to /proc: "),
        ]
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        cases += [
            (locked / "site", f"cannot create {locked / 'site'}: permission denied in {locked}"),
            (locked, f"cannot write to {locked}: permission denied"),
        ]
    for target, message in cases:
        result = run_export(server, str(target), "--page", page.slug, check=False)
        assert result.returncode == 1, (target, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith(f"Error: {message}"), (target, result.stderr)
        assert result.stderr.count("\n") == 1, (target, result.stderr)
    assert a_file.read_text() == "not a directory"


def test_the_export_is_the_same_whatever_the_number_of_processes(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo, tmp_path: Path
) -> None:
    component = next(iter(page.components.values()))
    for n in range(6):
        incident = publish(sdk, page.id, f"Outage {n}", "It broke.", {component: "full_outage"})
        post_update(sdk, incident, "Fixed.")
    one, three = tmp_path / "one", tmp_path / "three"
    run_export(server, str(one), "--page", page.slug, "--jobs", "1")
    run_export(server, str(three), "--page", page.slug, "--jobs", "3")
    files = exported_files(one)
    assert files.keys() == exported_files(three).keys()
    for rel in files:
        assert comparable((one / rel).read_bytes()) == comparable((three / rel).read_bytes()), rel
    assert (one / MANIFEST).read_bytes() == (three / MANIFEST).read_bytes()


def test_a_helper_that_fails_leaves_its_share_to_the_first_process(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo, tmp_path: Path
) -> None:
    component = next(iter(page.components.values()))
    for n in range(4):
        publish(sdk, page.id, f"Outage {n}", "It broke.", {component: "full_outage"})
    reference = tmp_path / "reference"
    run_export(server, str(reference), "--page", page.slug, "--jobs", "1")
    # A helper that dies at once, having delivered nothing.
    progress_r, progress_w = os.pipe()
    result_r, result_w = os.pipe()
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", "raise SystemExit(1)"], {})
    os.close(progress_w)
    os.close(result_w)
    os.set_blocking(progress_r, False)
    helper = Helper(pid, progress_r, result_r)
    out = tmp_path / "out"

    async def body(ctx: AppContext) -> ExportReport:
        return await export_site(ctx, out, slugs=[page.slug], helpers=[helper])

    report = server.call(body)
    assert report.files == report.written == len(exported_files(reference))
    for rel in exported_files(reference):
        assert comparable((out / rel).read_bytes()) == comparable((reference / rel).read_bytes())
