"""The nginx site of ``docs/export.md``, as a user pastes it: Debian's nginx serves an export
with the right content types, the CORS header, and every page and link loading."""

from __future__ import annotations

import contextlib
import getpass
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from incident_io import AuthenticatedClient

from tests.factories import PageInfo
from tests.harness import LiveServer, free_port
from tests.maintenances.helpers import create_window
from tests.public.test_export import run_export
from tests.public.test_page import publish

DOC = Path(__file__).parents[2] / "docs" / "export.md"
#: What the documented site sends as Clarion does.
SECURITY_HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
)
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEBIAN_MIME_TYPES = Path("/etc/nginx/mime.types")

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists() or not DEBIAN_MIME_TYPES.exists(),
    reason="Debian's nginx is not installed (scripts/bootstrap --with-bench installs it)",
)

#: Debian's /etc/nginx/nginx.conf, reduced to what serving files needs, run unprivileged with
#: its own temporary directories; ``{site}`` is where sites-enabled/* would be included.
NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include mime.types;
    default_type application/octet-stream;
    access_log off;
    gzip on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
"""


def documented_site() -> str:
    """The one ``nginx`` code block of docs/export.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/export.md should show exactly one nginx block"
    return str(blocks[0])


@contextlib.contextmanager
def nginx(site: str, root: Path, tmp: Path) -> Iterator[str]:
    """Debian's nginx serving ``root`` with ``site`` (its ``listen`` and ``root`` pointed at a
    free loopback port and ``root``); yields the base URL."""
    port = free_port()
    site = re.sub(r"^(\s*)listen\s+[^;]+;", rf"\1listen 127.0.0.1:{port};", site, flags=re.M)
    site = re.sub(r"^(\s*)root\s+[^;]+;", rf"\1root {root};", site, flags=re.M)
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEBIAN_MIME_TYPES, tmp / "mime.types")
    # As root, nginx's workers would switch to nobody, who cannot read a test's directories.
    user = f"user {getpass.getuser()};" if getpass.getuser() == "root" else ""
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, site=site))
    process = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError("nginx exited: " + (tmp / "error.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_the_documented_nginx_site_serves_the_export_as_clarion_does(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo, tmp_path: Path
) -> None:
    component = next(iter(page.components.values()))
    incident = publish(sdk, page.id, "Served by nginx", "Looking.", {component: "full_outage"})
    now = datetime.now(UTC)
    window = create_window(
        sdk, page.id, [component], now + timedelta(days=1), now + timedelta(days=1, hours=1)
    )
    root = tmp_path / "site"
    run_export(server, str(root), "--page", page.slug)
    slug = page.slug
    expected = {
        f"/{slug}": "text/html",
        f"/{slug}/": "text/html",
        f"/{slug}/history": "text/html",
        f"/{slug}/incidents/{incident}": "text/html",
        f"/{slug}/maintenance/{window.id}": "text/html",
        f"/{slug}/feed.atom": "application/atom+xml",
        f"/{slug}/feed.rss": "application/rss+xml",
        f"/{slug}/maintenance.ics": "text/calendar",
        f"/{slug}/api/v2/summary.json": "application/json",
        f"/{slug}/api/v2/incidents/unresolved.json": "application/json",
        f"/{slug}/badge.svg": "image/svg+xml",
        f"/{slug}/static/clarion.css": "text/css",
    }
    with nginx(documented_site(), root, tmp_path / "nginx") as url, httpx.Client() as client:
        for path, content_type in expected.items():
            answer = client.get(url + path, timeout=30)
            assert answer.status_code == 200, path
            assert answer.headers["content-type"].split(";")[0] == content_type, path
            if not path.endswith((".css", "/", "history")) and "/incidents/" not in path:
                assert answer.headers["access-control-allow-origin"] == "*", path
            live = client.get(server.base_url + path, timeout=30, follow_redirects=True)
            assert live.headers["content-type"].split(";")[0] == content_type, path
            for header in SECURITY_HEADERS:
                assert answer.headers[header] == live.headers[header], (path, header)
        assert "charset=utf-8" in client.get(f"{url}/{slug}", timeout=30).headers["content-type"]
        # Every link of the page that stays on the copy loads from it.
        page_html = client.get(f"{url}/{slug}", timeout=30).text
        links = set(re.findall(r'(?:href|src)="(/[^"]*)"', page_html))
        assert f"/{slug}/incidents/{incident}" in links
        for link in sorted(links):
            assert client.get(url + link, timeout=30).status_code == 200, link


def test_the_check_catches_a_site_that_replaces_nginx_s_types(
    server: LiveServer, page: PageInfo, tmp_path: Path
) -> None:
    """Without ``include mime.types``, a ``types`` block in ``server {}`` replaces nginx's map
    and pages go out as application/octet-stream: the failure the test above guards against."""
    root = tmp_path / "site"
    run_export(server, str(root), "--page", page.slug)
    site = documented_site()
    assert "include mime.types;" in site
    broken = site.replace("include mime.types;", "")
    with nginx(broken, root, tmp_path / "nginx") as url:
        answer = httpx.get(f"{url}/{page.slug}", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/octet-stream")
