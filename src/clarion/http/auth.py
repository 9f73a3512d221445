"""Bearer authentication, per-key rate limiting and role checks.

Every API route is an ``ApiRoute``: before anything of the request is parsed or validated, the
``Authorization`` header's key is looked up (401 when missing, malformed, unknown or revoked)
and one token of the key's rate-limit bucket is spent (429 when empty). Each route then
declares what it needs of the key: ``Depends(require())`` for any valid key,
``Depends(require(PUBLISH_ROLE))`` to publish, ``Depends(require(CONFIGURE_ROLE))`` for
settings (403 otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Scope

from clarion.api_keys.service import Principal, authenticate
from clarion.context import AppContext
from clarion.errors import Forbidden, RateLimited, RateLimitInfo, Unauthenticated
from clarion.http.middleware import BODY_METHODS, may_be_json, nul_problem
from clarion.http.ratelimit import headers_for

RETROSPECTIVE_BUCKET = "retrospective"
#: ``request.state`` attribute holding the request's ``Principal``.
PRINCIPAL = "principal"


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def bearer_token(header: str) -> str | None:
    """The API key of an ``Authorization`` value, when it is ``Bearer <key>``; else None."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _token_from(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header or not header.strip():
        raise Unauthenticated(
            "missing_authorization_material", "No authorization material provided in request"
        )
    token = bearer_token(header)
    if token is None:
        raise Unauthenticated(
            "access_token_invalid",
            "The Authorization header must be 'Bearer <API key>'",
        )
    return token


async def spend_token(
    scope: Scope, ctx: AppContext, principal: Principal, bucket: str, capacity: int, rate: float
) -> None:
    """Take one token from ``principal``'s ``bucket``; the ``X-RateLimit-*`` headers go into
    ``scope["state"]["response_headers"]``. Raises ``RateLimited`` when the bucket is empty."""
    now = ctx.clock.now()
    ts = now.timestamp()
    decision = await ctx.rate_limiter.take(f"{principal.id}:{bucket}", capacity, rate, ts)
    window = round(capacity / rate)
    headers = headers_for(decision, capacity, window, ts)
    scope["state"].setdefault("response_headers", {}).update(headers)
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after))
        raise RateLimited(
            RateLimitInfo(
                name=f"api_key:{bucket}" if bucket != "default" else "api_key",
                limit=capacity,
                remaining=0,
                retry_after=(now + timedelta(seconds=wait)).replace(microsecond=0),
                retry_after_seconds=wait,
                headers=headers,
            )
        )


async def authenticate_request(request: Request) -> Principal:
    """The request's key, authenticated, with one token of its default bucket spent."""
    ctx = context_of(request)
    token = _token_from(request)
    # Looked up on every request, so that a revoked key gets 401 at once, even when another
    # process revoked it.
    async with ctx.db.read() as session:
        principal = await authenticate(session, token)
    if principal is None:
        raise Unauthenticated("access_token_invalid", "The API key is invalid, revoked or expired")
    settings = ctx.settings
    await spend_token(
        request.scope,
        ctx,
        principal,
        "default",
        settings.rate_limit_capacity,
        settings.rate_limit_refill_per_second,
    )
    setattr(request.state, PRINCIPAL, principal)
    return principal


class ApiRoute(APIRoute):
    """An API route: the key is authenticated before the request is parsed (see the module);
    then NUL characters in the path, the query or a JSON body are refused (PostgreSQL cannot
    store them, and the answer must not depend on the backend)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            await authenticate_request(request)
            body = None
            if request.method in BODY_METHODS and may_be_json(request.scope):
                body = await request.body()  # kept by the request for the handler
            problem = nul_problem(request.scope, body)
            if problem is not None:
                raise problem
            return await handler(request)

        return authenticated


def require(
    role: str | None = None, *, extra_bucket: str | None = None
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the request's key (authenticated by ``ApiRoute``), which must hold
    ``role``; with ``extra_bucket``, one token of that bucket is spent too."""

    async def dependency(request: Request) -> Principal:
        principal: Principal = getattr(request.state, PRINCIPAL)
        if role is not None and not principal.has(role):
            raise Forbidden(f"This API key needs the '{role}' role for this request")
        if extra_bucket == RETROSPECTIVE_BUCKET:
            ctx = context_of(request)
            settings = ctx.settings
            await spend_token(
                request.scope,
                ctx,
                principal,
                RETROSPECTIVE_BUCKET,
                settings.retrospective_rate_limit_capacity,
                settings.retrospective_rate_limit_refill_per_second,
            )
        return principal

    return dependency
