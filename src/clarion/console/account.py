"""Signing in and out of the console.

- ``GET /admin/sign-in``: the form (Email, Password, Sign in). It carries its own CSRF token,
  also set as a cookie (before sign-in there is no session to tie it to).
- ``POST /admin/sign-in``: attempts are throttled per e-mail address and per client address
  (token buckets in the app's rate limiter); an unknown address, a deactivated user and a
  wrong password get the same answer after the same work. A success starts a new session
  (any session the browser had ends) and goes to ``next`` when it is a console path.
- ``GET /admin/sign-out``: the page with **Sign out** and **Sign out everywhere**;
  ``POST /admin/sign-out`` ends this session, or with ``everywhere`` all of the user's.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.console import users
from clarion.console.forms import Form, read_form
from clarion.console.passwords import hash_password, needs_rehash
from clarion.console.sessions import Visit, end_session, start_session
from clarion.console.web import (
    CSRF_FIELD,
    CSRF_MESSAGE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    ConsoleRoute,
    context_of,
    cookie_settings,
    links_of,
    page,
    render,
    same_origin,
    see_other,
    signed_in,
)
from clarion.context import AppContext
from clarion.errors import Forbidden

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
WRONG = "The e-mail address or the password is not right."
SIGNED_OUT = "You have signed out."
SIGNED_OUT_EVERYWHERE = "You have signed out on every device."


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _throttle(ctx: AppContext, address: str, email: str) -> int:
    """Spend one attempt of the e-mail address's bucket and one of the client address's;
    the seconds to wait when either is empty, else 0 (the same whether or not a user has
    that address)."""
    settings = ctx.settings
    now = ctx.clock.now().timestamp()
    account = hashlib.sha256(users.normalise_email(email).encode()).hexdigest()[:32]
    buckets = (
        (
            f"console-sign-in:account:{account}",
            settings.console_signin_account_attempts,
            settings.console_signin_account_refill_seconds,
        ),
        (
            f"console-sign-in:address:{address}",
            settings.console_signin_address_attempts,
            settings.console_signin_address_refill_seconds,
        ),
    )
    wait = 0.0
    for key, capacity, refill_seconds in buckets:
        decision = await ctx.rate_limiter.take(key, capacity, 1 / refill_seconds, now)
        if not decision.allowed:
            wait = max(wait, decision.retry_after)
    return math.ceil(wait)


def _too_many(request: Request, seconds: int) -> Response:
    """The 429 page of a throttled sign-in."""
    minutes = math.ceil(seconds / 60)
    wait = f"{minutes} minutes" if minutes > 1 else "a minute"
    response = render(
        request,
        "message.html",
        status=429,
        title="Too many sign-in attempts",
        messages=[f"Too many sign-in attempts. Wait {wait} before trying again."],
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def _sign_in_page(
    request: Request, form: Form, *, status: int = 200, notice: str | None = None
) -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status=status,
        title="Sign in",
        form=form,
        csrf_token=token,
        next=links_of(request).safe_next(form.get("next")),
        notice=notice,
    )
    response.set_cookie(SIGN_IN_COOKIE, token, **cookie_settings(request))
    return response


@router.get("/admin/sign-in")
async def sign_in_form(request: Request) -> Response:
    notice = {"out": SIGNED_OUT, "everywhere": SIGNED_OUT_EVERYWHERE}.get(
        request.query_params.get("signed_out", "")
    )
    form = Form({"next": [request.query_params.get("next", "")]})
    return _sign_in_page(request, form, notice=notice)


@router.post("/admin/sign-in")
async def sign_in(request: Request) -> Response:
    ctx = context_of(request)
    form = await read_form(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = form.get(CSRF_FIELD)
    if (
        not expected
        or not hmac.compare_digest(sent.encode(), expected.encode())
        or not same_origin(request, ctx.settings)
    ):
        raise Forbidden(CSRF_MESSAGE, code="csrf_token_invalid")
    email, password = form.get("email"), form.get("password")
    wait = await _throttle(ctx, _client_address(request), email)
    if wait:
        return _too_many(request, wait)
    async with ctx.db.read() as session:
        user = await users.user_for_sign_in(session, email)
    if user is None or not await users.password_accepted(user, password):
        shown = Form({"email": [email[:320]], "next": [form.get("next")]})
        shown.add_error("", WRONG)
        return _sign_in_page(request, shown, status=400)
    rehashed = await hash_password(password) if needs_rehash(user.password_hash) else None
    async with ctx.db.write() as session:
        if rehashed is not None:
            await users.store_password_hash(session, user.id, rehashed)
        token = await start_session(
            session, user, ctx.clock.now(), ctx.settings, request.cookies.get(SESSION_COOKIE)
        )
    response = see_other(links_of(request).safe_next(form.get("next")))
    response.set_cookie(SESSION_COOKIE, token, **cookie_settings(request))
    response.delete_cookie(SIGN_IN_COOKIE, **cookie_settings(request))
    return response


@router.get("/admin/sign-out")
async def sign_out_form(
    request: Request, visit: Annotated[Visit, Depends(signed_in())]
) -> Response:
    return await page(request, "sign_out.html", visit, title="Sign out", active="sign-out")


@router.post("/admin/sign-out")
async def sign_out(request: Request, visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    ctx = context_of(request)
    form = await read_form(request)
    everywhere = form.get("everywhere") != ""
    async with ctx.db.write() as session:
        if everywhere:
            await users.end_sessions(session, visit.user_id)
        else:
            await end_session(session, visit.session_id)
    links = links_of(request)
    response = see_other(
        links("sign-in") + ("?signed_out=everywhere" if everywhere else "?signed_out=out")
    )
    response.delete_cookie(SESSION_COOKIE, **cookie_settings(request))
    return response
