"""Bearer authentication, per-key rate limiting and role checks, as FastAPI dependencies.

Every API route declares what it needs: ``Depends(require())`` for any valid key,
``Depends(require(PUBLISH_ROLE))`` to publish, ``Depends(require(CONFIGURE_ROLE))`` for settings.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import Request
from starlette.types import Scope

from clarion.api_keys.service import Principal, authenticate
from clarion.context import AppContext
from clarion.errors import Forbidden, RateLimited, RateLimitInfo, Unauthenticated
from clarion.http.ratelimit import headers_for

RETROSPECTIVE_BUCKET = "retrospective"


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


async def spend_default_token(scope: Scope, ctx: AppContext, principal: Principal) -> None:
    """``spend_token`` from the key's default bucket (every API request spends one)."""
    settings = ctx.settings
    await spend_token(
        scope,
        ctx,
        principal,
        "default",
        settings.rate_limit_capacity,
        settings.rate_limit_refill_per_second,
    )


def require(
    role: str | None = None, *, extra_bucket: str | None = None
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: authenticate the key, spend a token, check ``role``."""

    async def dependency(request: Request) -> Principal:
        ctx = context_of(request)
        token = _token_from(request)
        # Looked up on every request, so that a revoked key gets 401 at once, even when another
        # process revoked it; one indexed SELECT outside a transaction keeps that cheap.
        async with ctx.db.lean_read() as tx:
            principal = await authenticate(tx, token)
        if principal is None:
            raise Unauthenticated(
                "access_token_invalid", "The API key is invalid, revoked or expired"
            )
        await spend_default_token(request.scope, ctx, principal)
        if role is not None and not principal.has(role):
            raise Forbidden(f"This API key needs the '{role}' role for this request")
        if extra_bucket == RETROSPECTIVE_BUCKET:
            settings = ctx.settings
            await spend_token(
                request.scope,
                ctx,
                principal,
                RETROSPECTIVE_BUCKET,
                settings.retrospective_rate_limit_capacity,
                settings.retrospective_rate_limit_refill_per_second,
            )
        request.scope["state"]["principal"] = principal
        return principal

    return dependency
