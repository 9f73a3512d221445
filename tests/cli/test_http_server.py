"""The HTTP protocol as ``clarion serve`` speaks it, over real connections: keep-alive and its
idle timeout, HEAD and 304 answers without a body, ``X-Forwarded-*`` from trusted proxies only,
a clear error when the port is taken, and a graceful stop (SIGTERM: the request in flight is
answered, then the process exits 0), with one process and with ``--workers 2``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from tests.cli.serving import clarion_serve, publisher_token
from tests.contract.cli import cli_environment
from tests.factories import PageInfo
from tests.harness import LiveServer, free_port, serve_in_thread
from tests.raw_http import RawConnection, request


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def test_one_keep_alive_connection_serves_request_after_request(
    server: LiveServer, page: PageInfo
) -> None:
    connection = RawConnection(_port(server.base_url))
    try:
        for path in ("/healthz", f"/{page.slug}", "/v2/nothing", "/healthz"):
            connection.send(request(path))
            answer = connection.read()
            assert answer.status_line.split()[0] == b"HTTP/1.1", answer.status_line
            assert answer.header(b"connection") != b"close"
        # Pipelined: two requests in one write, answered in order.
        connection.send(request("/healthz") + request(f"/{page.slug}"))
        assert connection.read().status_line.startswith(b"HTTP/1.1 200")
        assert b"<html" in connection.read().body
    finally:
        connection.close()


@pytest.mark.slow
def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(server: LiveServer) -> None:
    settings = server.settings.model_copy(update={"keep_alive_seconds": 2})
    port = free_port()
    with serve_in_thread(lambda: _echo_client, settings, port):
        connection = RawConnection(port)
        try:
            connection.send(request("/"))
            assert connection.read().status_line.startswith(b"HTTP/1.1 200")
            time.sleep(1.2)  # idle for less than the timeout: still served
            connection.send(request("/"))
            assert connection.read().status_line.startswith(b"HTTP/1.1 200")
            idle_from = time.monotonic()
            assert connection.closed_by_server()
            idle = time.monotonic() - idle_from
            assert 1.5 < idle < 5, idle
        finally:
            connection.close()


def test_head_has_the_gets_content_length_and_no_body(server: LiveServer, page: PageInfo) -> None:
    connection = RawConnection(_port(server.base_url))
    try:
        for encoding in ("identity", "gzip"):
            lines = (f"Accept-Encoding: {encoding}",)
            connection.send(request(f"/{page.slug}", *lines))
            got = connection.read()
            connection.send(request(f"/{page.slug}", *lines, method="HEAD"))
            head = connection.read(b"HEAD")
            assert head.status_line.startswith(b"HTTP/1.1 200")
            assert head.header(b"content-length") == got.header(b"content-length")
            assert int(got.header(b"content-length") or 0) == len(got.body) > 0
            assert head.header(b"etag") == got.header(b"etag")
            # Had the HEAD answer carried a body, it would be read as the next answer.
            connection.send(request("/healthz"))
            assert connection.read().status_line.startswith(b"HTTP/1.1 200")
    finally:
        connection.close()


def test_a_304_has_no_body_and_the_connection_goes_on(server: LiveServer, page: PageInfo) -> None:
    connection = RawConnection(_port(server.base_url))
    try:
        connection.send(request(f"/{page.slug}"))
        etag = (connection.read().header(b"etag") or b"").decode()
        connection.send(request(f"/{page.slug}", f"If-None-Match: {etag}"))
        not_modified = connection.read()
        assert not_modified.status_line.startswith(b"HTTP/1.1 304")
        assert not_modified.header(b"etag") == etag.encode()
        assert not_modified.header(b"content-length") in (None, b"0")
        connection.send(request("/healthz"))
        assert connection.read().status_line.startswith(b"HTTP/1.1 200")
    finally:
        connection.close()


async def _echo_client(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that answers with the client address and scheme the server gave it."""
    if scope["type"] == "lifespan":
        for stage in ("startup", "shutdown"):
            assert (await receive())["type"] == f"lifespan.{stage}"
            await send({"type": f"lifespan.{stage}.complete"})
        return
    body = json.dumps({"client": scope["client"][0], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("allowed", "trusted"),
    [("127.0.0.1", True), ("127.0.0.0/8, ::1", True), ("*", True), ("10.1.2.3", False)],
)
def test_forwarded_headers_count_from_a_trusted_proxy_only(
    server: LiveServer, allowed: str, trusted: bool
) -> None:
    settings = server.settings.model_copy(update={"forwarded_allow_ips": allowed})
    port = free_port()
    with serve_in_thread(lambda: _echo_client, settings, port):
        seen = httpx.get(
            f"http://127.0.0.1:{port}/",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        ).json()
        plain = httpx.get(f"http://127.0.0.1:{port}/").json()
    if trusted:
        assert seen == {"client": "203.0.113.7", "scheme": "https"}
    else:
        assert seen == {"client": "127.0.0.1", "scheme": "http"}
    assert plain == {"client": "127.0.0.1", "scheme": "http"}


# ---------------------------------------------------------------------------------------------
# ``clarion serve`` as a process


def _read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(30)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_answers_the_request_in_flight_then_exits_0(
    database: str, tmp_path: Path, workers: int
) -> None:
    token = publisher_token(database)
    log = tmp_path / "serve.log"
    with clarion_serve(database, log, "--workers", str(workers)) as (process, base):
        port = _port(base)
        pages = httpx.get(
            f"{base}/v2/status_pages",
            headers={"Authorization": f"Bearer {token}"},
        ).json()["status_pages"]
        body = json.dumps(
            {
                "status_page_id": pages[0]["id"],
                "name": "Created while stopping",
                "incident_status": "investigating",
                "message": "x" * 2000,
                "notify_subscribers": False,
                "idempotency_key": "stopping",
            }
        ).encode()
        # A request in flight: its headers and half its body sent, the rest still to come.
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = request(
            "/v2/status_page_incidents",
            f"Authorization: Bearer {token}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            method="POST",
        )
        sock.sendall(head + body[:1000])
        time.sleep(0.5)  # the app is reading the body
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the server is stopping, waiting for that request
        assert process.poll() is None, log.read_text()
        sock.sendall(body[1000:])
        answer = _read_answer(sock)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        assert b"connection: close" in answer.lower()
        assert b"Created while stopping" in answer
        assert process.wait(30) == 0, log.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_serve_fails_clearly_when_the_port_is_taken(database: str, tmp_path: Path) -> None:
    with clarion_serve(database, tmp_path / "first.log") as (_first, base):
        port = _port(base)
        second = subprocess.run(
            [sys.executable, "-m", "clarion", "serve", "--port", str(port), "--no-worker"],
            env=cli_environment(database, CLARION_LOG_LEVEL="warning"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        # The first server still answers every request (none went to a second listener).
        for _ in range(20):
            assert httpx.get(f"{base}/healthz").status_code == 200
