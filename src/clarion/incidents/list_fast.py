"""The hot read of the API, answered before the framework: ``GET /v2/status_page_incidents``
whose list is already in the list cache (``clarion.http.list_cache``).

The SDK's pagination loop, dashboards and chat-ops bots mostly re-read lists that have not
changed. On that path FastAPI's routing, dependency solving and parameter validation cost about
three times the lookup itself, so its ``ApiFast`` handler (``clarion.http.fast``) answers
such a request directly when every condition of the full path is plainly met:

- the query has only ``status_page_id`` (1 to 64 characters), ``page_size`` (digits, 1 to 250,
  or empty) and ``after``, each at most once, and no NUL;
- the request has no body, and a ``Bearer`` token;
- one statement finds the live key of that token and the page's ``content_version``, and the
  list cache holds the bytes for that version.

Anything else (a filter, a bad value, an unknown key or page, a cache miss, an error on the
way) goes to the full path untouched, which answers it, errors included, as it always has.
Only then is a rate-limit token spent, exactly once, as on the full path; an empty bucket gets
the same 429. The answer has the full path's status, headers (in the same order) and bytes.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from sqlalchemy import bindparam, select
from starlette.types import Receive, Scope, Send

from clarion.api_keys.models import ApiKey
from clarion.api_keys.service import Principal, hash_token, principal_of
from clarion.context import AppContext
from clarion.db.lean import LeanStatement
from clarion.errors import RateLimited
from clarion.http.auth import spend_default_token
from clarion.http.envelope import error_response
from clarion.http.fast import ApiFast, plain_headers, register, send_finished
from clarion.http.filters import ListFilters
from clarion.http.list_cache import list_cache_of
from clarion.http.middleware import finish_headers
from clarion.http.pagination import DEFAULT_PAGE_SIZE, PageRequest
from clarion.status_pages.models import StatusPage

PATH = "/v2/status_page_incidents"
_PARAMS = frozenset({"status_page_id", "page_size", "after"})
_PAGE_SIZE = re.compile(r"[1-9][0-9]{0,2}")
_JSON = b"application/json"
_NO_FILTERS = ListFilters()

#: The key's principal and the page's version in one indexed statement.
_KEY_AND_VERSION = LeanStatement(
    select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.roles,
        ApiKey.token_hash,
        select(StatusPage.content_version)
        .where(StatusPage.id == bindparam("page_id"))
        .scalar_subquery()
        .label("version"),
    ).where(ApiKey.token_hash == bindparam("digest"), ApiKey.revoked_at.is_(None))
)


def list_key(status_page_id: str, page: PageRequest, filters: ListFilters) -> tuple[object, ...]:
    """The list cache's key for one incident list (shared with the full path)."""
    return ("status_page_incidents", status_page_id, page, filters)


def _plain_request(scope: Scope) -> tuple[str, PageRequest, str] | None:
    """``(status_page_id, page, token)`` when the request is one the fast path may answer."""
    plain = plain_headers(scope)
    if plain is None or plain.content_length is not None or plain.chunked:
        return None
    raw = scope["query_string"]
    if b"%00" in raw or b"\x00" in raw:
        return None
    params = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    found = dict(params)
    if len(found) != len(params) or not found.keys() <= _PARAMS:
        return None
    page_id = found.get("status_page_id")
    if page_id is None or not 1 <= len(page_id) <= 64:
        return None
    size_text = found.get("page_size", "")
    if size_text == "":
        size = DEFAULT_PAGE_SIZE
    elif _PAGE_SIZE.fullmatch(size_text) and int(size_text) <= 250:
        size = int(size_text)
    else:
        return None
    return page_id, PageRequest(page_size=size, after=found.get("after") or None), plain.token


async def answer_cached_list(layer: ApiFast, scope: Scope, receive: Receive, send: Send) -> None:
    """The ``ApiFast`` handler of ``GET /v2/status_page_incidents`` (see the module)."""
    try:
        ready = await _cached(layer.ctx, scope)
    except Exception:  # the full path answers it, and reports it properly
        ready = None
    if ready is None:
        await layer.app(scope, receive, send)
    else:
        await _answer(layer.ctx, scope, send, *ready)


async def _cached(ctx: AppContext, scope: Scope) -> tuple[Principal, bytes] | None:
    """The principal and the cached bytes, or None for the full path (nothing spent)."""
    plain = _plain_request(scope)
    if plain is None:
        return None
    page_id, page, token = plain
    digest = hash_token(token)
    async with ctx.db.lean_read() as tx:
        row = await tx.first(_KEY_AND_VERSION, {"digest": digest, "page_id": page_id})
    principal = principal_of(row, digest)
    if principal is None or row is None or row.version is None:
        return None
    body = list_cache_of(ctx).get(list_key(page_id, page, _NO_FILTERS), row.version)
    if body is None:
        return None
    return principal, body


async def _answer(
    ctx: AppContext, scope: Scope, send: Send, principal: Principal, body: bytes
) -> None:
    scope.setdefault("state", {})  # spend_token and finish_headers keep their headers there
    try:
        await spend_default_token(scope, ctx, principal)
    except RateLimited as limited:
        await send_finished(error_response(scope, limited), scope, send)
        return
    headers = finish_headers(
        [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)], scope
    )
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


register("GET", PATH, answer_cached_list)
