"""Pure ASGI middleware: request ids, body size limit, and headers set during the request."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.errors import PayloadTooLarge
from clarion.http.envelope import error_response, request_id_of

log = logging.getLogger("clarion.http")


class _TooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that body parsers let it through."""

    def __init__(self) -> None:
        super().__init__(413)


class ApiMiddleware:
    """Adds ``X-Request-Id`` and any ``state["response_headers"]`` to every response, and
    answers 413 (the error envelope) for bodies over ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        state = scope["state"]
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await error_response(scope, PayloadTooLarge(limit))(scope, receive, send)
                    return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                # Error responses already carry it (error_response sets it for every path).
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))
                present = {name.lower() for name, _ in headers}
                for key, value in state.get("response_headers", {}).items():
                    if key.lower().encode() not in present:  # a 429 already carries them
                        headers.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge:
            if started:
                raise
            await error_response(scope, PayloadTooLarge(limit))(scope, receive, send_with_headers)
