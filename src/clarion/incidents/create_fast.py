"""``POST /v2/status_page_incidents`` answered before the framework (an ``ApiFast`` handler).

Publishing an incident is the API's hottest write: alerting and chat-ops scripts send them in
bursts during an outage. FastAPI's middleware, routing, body reading and dependency solving
cost about as much as the write itself, so this handler takes a request whose every
precondition is plainly met and runs the same code as the route (``create_from_payload``):

- a ``Content-Length`` within ``CLARION_MAX_BODY_BYTES``, a JSON (or absent) content type, no
  NUL anywhere, a ``Bearer`` token;
- a body that ``orjson`` parses and the route's own payload model validates;
- a live key with the ``status_page_publisher`` role.

Anything else goes to the full path untouched (the body read here is handed on), which answers
it, errors included, as it always has. From the rate limit on, this handler answers every
request itself: the token is spent once, and the errors of the write (422 for an unknown page
or component, a reused idempotency key, a 429, a 500) are the full path's envelopes.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from clarion.api_keys.service import PUBLISH_ROLE, Principal, authenticate
from clarion.errors import ClarionError
from clarion.http.auth import spend_default_token
from clarion.http.envelope import crash_response, error_response
from clarion.http.fast import ApiFast, plain_headers, register, send_finished
from clarion.http.json import json_response
from clarion.http.middleware import may_be_json, nul_problem, replaying
from clarion.incidents.api import create_from_payload
from clarion.incidents.schemas import StatusPagesCreateStatusPageIncidentPayloadV2 as Payload

PATH = "/v2/status_page_incidents"


def _plain_headers(scope: Scope, limit: int) -> str | None:
    """The API key when the headers are ones this handler may take, else None."""
    plain = plain_headers(scope)
    if plain is None or plain.chunked or plain.content_length is None:
        return None
    if plain.content_length > limit or not may_be_json(scope):
        return None
    return plain.token


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, and whether it was read whole within ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


async def _decide(
    layer: ApiFast, scope: Scope, body: bytes, token: str
) -> tuple[Principal, Payload] | None:
    """The key and the payload when this handler takes the request; None for the full path."""
    if nul_problem(scope, body) is not None:
        return None
    try:
        payload = Payload.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None
    async with layer.ctx.db.lean_read() as tx:
        principal = await authenticate(tx, token)
    if principal is None or not principal.has(PUBLISH_ROLE):
        return None
    return principal, payload


async def answer_create(layer: ApiFast, scope: Scope, receive: Receive, send: Send) -> None:
    """The ``ApiFast`` handler of ``POST /v2/status_page_incidents`` (see the module)."""
    ctx = layer.ctx
    token = _plain_headers(scope, ctx.settings.max_body_bytes)
    if token is None:
        await layer.app(scope, receive, send)
        return
    body, whole = await _read(receive, ctx.settings.max_body_bytes)
    decided = None
    if whole:
        try:
            decided = await _decide(layer, scope, body, token)
        except Exception:  # the full path answers it, and reports it properly
            decided = None
    if decided is None:
        await layer.app(scope, replaying(body, receive), send)
        return
    principal, payload = decided
    scope.setdefault("state", {})  # spend_token and finish_headers keep their headers there
    try:
        await spend_default_token(scope, ctx, principal)
        scope["state"]["principal"] = principal
        status, answer = await create_from_payload(ctx, payload)
        response: Response = json_response(answer, status_code=status)
    except ClarionError as error:
        response = error_response(scope, error)
    except Exception:
        response = crash_response(scope)
    await send_finished(response, scope, send)


register("POST", PATH, answer_create)
