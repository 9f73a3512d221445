"""``ApiFast``: the outermost layer of the API, for the few requests it answers before the
framework (the hottest paths: a cached incident list, publishing an incident).

Each such path registers a handler for its method and path (``register``). A handler either
answers, with exactly what the full path would have sent, or hands the request to the full
path (``ApiFast.app``) untouched. Every other request goes straight to the full path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.context import AppContext
from clarion.http.auth import bearer_token
from clarion.http.middleware import finish_headers

Handler = Callable[["ApiFast", Scope, Receive, Send], Awaitable[None]]
_handlers: dict[tuple[str, str], Handler] = {}


def register(method: str, path: str, handler: Handler) -> None:
    _handlers[(method, path)] = handler


def install(app: FastAPI) -> None:
    """Put ``ApiFast`` outside the app's middleware stack."""
    build_stack = app.build_middleware_stack

    def build_with_fast_paths() -> ASGIApp:
        return ApiFast(build_stack(), app.state.ctx)

    app.build_middleware_stack = build_with_fast_paths  # type: ignore[method-assign]


class ApiFast:
    """Dispatches registered (method, path) pairs to their handlers (see the module)."""

    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = _handlers.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(self, scope, receive, send)
                return
        await self.app(scope, receive, send)


async def no_receive() -> Message:
    return {"type": "http.disconnect"}


@dataclass(frozen=True)
class PlainHeaders:
    token: str
    content_length: int | None
    chunked: bool


def plain_headers(scope: Scope) -> PlainHeaders | None:
    """One pass over the headers: None unless there is exactly one ``Authorization: Bearer``
    with a key and at most one ``Content-Length``, all digits."""
    token = None
    length = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            if token is not None:
                return None
            token = bearer_token(value.decode("latin-1"))
            if token is None:
                return None
        elif name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return None if token is None else PlainHeaders(token, length, chunked)


async def send_finished(response: Response, scope: Scope, send: Send) -> None:
    """Send ``response`` with the headers every API response leaves with (as ``ApiMiddleware``
    adds them on the full path)."""

    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": finish_headers(list(message["headers"]), scope)}
        await send(message)

    await response(scope, no_receive, with_headers)
