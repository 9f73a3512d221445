"""The keep-alive timeout of ``clarion.http.instant``'s protocol: one lazy timer per connection
instead of uvicorn's cancel-and-rearm per request, closing idle connections exactly when uvicorn
would (``timeout_keep_alive`` after the last response) and never one that is busy or was used
again since.

A real uvicorn server on loopback, on uvloop (as ``clarion serve`` runs) and on asyncio's own
loop, with a small app: ``/instant`` is answered from the parser callback, ``/slow`` through
ASGI after a delay longer than the timeout.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
import uvloop

from clarion.cli.serve import uvicorn_options
from tests.raw_http import RawConnection, request

TIMEOUT = 1  # seconds, uvicorn's ``timeout_keep_alive``
SLOW = 1.6  # seconds the ``/slow`` answer takes: longer than the timeout


class App:
    """``/instant`` from the parser callback; everything else through ASGI."""

    def __init__(self) -> None:
        self.state = SimpleNamespace(instant_answer=self.instant_answer)

    def instant_answer(self, scope: dict[str, Any]) -> Any:
        if scope["path"] != "/instant":
            return None
        return 200, b"content-length: 2\r\n", b"ok"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            await asyncio.sleep(SLOW)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=["uvloop", "asyncio"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    new_loop: Callable[[], asyncio.AbstractEventLoop] = (
        uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop
    )
    app = App()
    options = uvicorn_options("warning", app)
    assert "http" in options  # the instant protocol
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", timeout_keep_alive=TIMEOUT, **options)
    server = uvicorn.Server(config)
    loop = new_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(server.serve([sock])))
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)
    loop.close()


class Client(RawConnection):
    def get(self, path: str) -> None:
        self.send(request(path))
        answer = self.read()
        assert answer.status_line == b"HTTP/1.1 200 OK\r\n"
        assert answer.body == b"ok"

    def seconds_until_closed(self) -> float:
        """How long until the server closes the connection (reading nothing meanwhile)."""
        start = time.monotonic()
        assert self.closed_by_server()
        return time.monotonic() - start


@pytest.fixture
def client(port: int) -> Iterator[Client]:
    c = Client(port)
    yield c
    c.close()


@pytest.mark.parametrize("path", ["/instant", "/asgi"])
def test_an_idle_connection_is_closed_after_the_timeout(client: Client, path: str) -> None:
    client.get(path)
    waited = client.seconds_until_closed()
    assert TIMEOUT - 0.1 <= waited <= TIMEOUT + 1.5


def test_a_connection_used_again_stays_open_until_a_timeout_after_its_last_answer(
    client: Client,
) -> None:
    start = time.monotonic()
    while time.monotonic() - start < 2.5 * TIMEOUT:  # well past the first answer's timeout
        client.get("/instant")
        time.sleep(TIMEOUT * 0.4)
    client.get("/asgi")  # the ordinary path arms the same timer
    client.get("/instant")
    waited = client.seconds_until_closed()
    assert TIMEOUT - 0.1 <= waited <= TIMEOUT + 1.5


def test_a_request_in_flight_when_the_timer_is_due_is_not_cut_off(client: Client) -> None:
    client.get("/instant")  # arms the timer: due while /slow is being answered
    time.sleep(TIMEOUT * 0.5)
    client.get("/slow")
    waited = client.seconds_until_closed()
    assert TIMEOUT - 0.1 <= waited <= TIMEOUT + 1.5
