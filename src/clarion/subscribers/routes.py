"""Public subscription pages under each status page (plain HTML forms, no login).

* ``GET/POST /{slug}/subscribe``: the form; posting always answers "check your inbox", whether
  or not the address was known (no leak). The form carries a signed token and a cross-origin
  ``Origin`` is refused (CSRF).
* ``GET/POST /{slug}/subscribe/confirm?token=…``: the link from the confirmation e-mail shows a
  button; posting confirms. (A GET never changes anything, so mail scanners that fetch links
  cannot confirm on someone's behalf.)
* ``GET/POST /{slug}/unsubscribe?token=…``: the page with a button, and RFC 8058 one-click
  unsubscribe by POST (mail clients post ``List-Unsubscribe=One-Click`` without cookies; the
  signed token is the authority).
* ``GET/POST /{slug}/preferences?token=…``: choose components (none ticked: the whole page).
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from sqlalchemy.exc import IntegrityError
from starlette.responses import HTMLResponse, Response

from clarion.context import AppContext
from clarion.errors import ValidationFailed
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import (
    iter_components,
    load_structure,
    page_by_domain,
    page_by_slug,
)
from clarion.subscribers import abuse, proof, service
from clarion.subscribers.addresses import AddressRefused, valid_address
from clarion.subscribers.models import Subscription
from clarion.subscribers.tokens import CONFIRM, FORM, MANAGE, make_token, read_token, signing_key
from clarion.text import xml_safe

router = APIRouter(include_in_schema=False)
CONFIRM_MAX_AGE = 7 * 24 * 3600
FORM_MAX_AGE = 24 * 3600
MAX_FORM_BYTES = 16_384
PROOF_MISSING = (
    "Your browser has to finish a short check before subscribing. Allow JavaScript for this "
    "page, wait a moment and send the form again."
)


@lru_cache(maxsize=1)
def _templates() -> Environment:
    # The status page's templates come second: its frame (header, footer) is shared.
    return Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("clarion.subscribers", "templates"),
                PackageLoader("clarion.public", "templates"),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


#: ``/{slug}`` on the slug routes, empty on a page's custom domain (set per request).
_prefix: ContextVar[str] = ContextVar("subscription_link_prefix", default="")


@dataclass(frozen=True)
class _Links:
    """Links within the status page (``href("history")``), as the site's frame makes them."""

    prefix: str

    def href(self, path: str = "") -> str:
        return self.prefix + "/" + path.lstrip("/")


#: The subscription pages' policy: stricter than the public site's (``http.security``); a
#: form that asks for a proof of work may run the site's own script.
_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _html(template: str, status: int = 200, *, script: bool = False, **values: Any) -> HTMLResponse:
    prefix = _prefix.get()
    body = _templates().get_template(template).render(prefix=prefix, links=_Links(prefix), **values)
    response = HTMLResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    # Tokens live in these URLs: never send them to another site. (Not "no-referrer": with it
    # browsers send "Origin: null" on form posts, which the CSRF check refuses.)
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        _POLICY + "; script-src 'self'" if script else _POLICY
    )
    return response


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


async def _page(request: Request, slug: str = "") -> StatusPage | None:
    """The page named by ``slug``, or (on the slug-less routes) the page whose custom domain
    the request was made to. Sets the path prefix the templates put before their links."""
    ctx = _ctx(request)
    async with ctx.db.read() as session:
        if slug:
            _prefix.set(f"/{slug}")
            return await page_by_slug(session, slug)
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower().strip("[]")
        _prefix.set("")
        return await page_by_domain(session, host) if host else None


async def _components(ctx: AppContext, page: StatusPage) -> list[tuple[str, str]]:
    async with ctx.db.read() as session:
        nodes = iter_components(await load_structure(session, page.id))
    found: list[tuple[str, str]] = []
    for node in nodes:
        if node.component is None or node.item.hidden:
            continue
        found.append((node.component.id, node.item.name or node.component.name))
    return list(dict.fromkeys(found))


def _not_found() -> HTMLResponse:
    return _html("message.html", 404, page=None, title="Not found", text="No such status page.")


def _bad_link(page: StatusPage) -> HTMLResponse:
    return _html(
        "message.html",
        400,
        page=page,
        title="This link is not valid",
        text="The link is incomplete, has expired or was not issued by this status page. "
        "Copy the whole link from the e-mail, or subscribe again.",
    )


def _same_origin(request: Request, ctx: AppContext) -> bool:
    """Browsers send ``Origin`` on form posts; when present it must be this site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    allowed = {_origin_of(ctx.settings.base_url)}
    host = request.headers.get("host")
    if host:
        allowed.add(f"{request.url.scheme}://{host}")
    return origin.rstrip("/") in allowed


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@router.get("/{slug}/subscribe")
@router.get("/subscribe")
async def subscribe_form(request: Request, slug: str = "") -> Response:
    ctx = _ctx(request)
    page = await _page(request, slug)
    if page is None:
        return _not_found()
    return await _render_form(ctx, page)


async def _render_form(
    ctx: AppContext, page: StatusPage, error: str | None = None, email: str = ""
) -> HTMLResponse:
    key = await signing_key(ctx)
    bits = ctx.settings.subscribe_proof_of_work_bits
    return _html(
        "subscribe.html",
        400 if error else 200,
        script=bits > 0,
        pow_bits=bits,
        page=page,
        title=f"Subscribe to {page.name}",
        components=await _components(ctx, page),
        # A nonce per form: each one has its own budget of addresses (``abuse``).
        form_token=make_token(key, FORM, f"{page.id}:{secrets.token_hex(8)}", ctx.clock.now()),
        error=error,
        email=email,
    )


@router.post("/{slug}/subscribe")
@router.post("/subscribe")
async def subscribe(request: Request, slug: str = "") -> Response:
    ctx = _ctx(request)
    page = await _page(request, slug)
    if page is None:
        return _not_found()
    form = await _form(request)
    key = await signing_key(ctx)
    now = ctx.clock.now()
    form_token = read_token(key, _first(form, "form_token"), FORM, now, FORM_MAX_AGE)
    if (
        not _same_origin(request, ctx)
        or form_token is None
        or form_token.subject.split(":", 1)[0] != page.id
    ):
        return _html(
            "message.html",
            403,
            page=page,
            title="Please try again",
            text="The form has expired or was not sent from this site. Reload it and try again.",
        )
    raw_email = _first(form, "email")
    settings = ctx.settings
    try:
        email = valid_address(
            raw_email,
            smtp_utf8=settings.smtp_utf8,
            test_domains=settings.subscribe_allow_test_domains,
        )
    except AddressRefused as exc:
        return await _render_form(ctx, page, error=str(exc), email=xml_safe(raw_email[:320]))
    if not proof.solved(
        _first(form, "form_token"), _first(form, "proof"), settings.subscribe_proof_of_work_bits
    ):
        return await _render_form(ctx, page, error=PROOF_MISSING, email=email)
    client = request.client.host if request.client else None
    refused = await abuse.refusal(ctx, _first(form, "form_token"), client, email)
    if refused is not None:
        return _html(
            "message.html", refused.status, page=page, title=refused.title, text=refused.text
        )
    # A mailbox over its budget gets the same answer as any other, and no e-mail.
    if await abuse.mailbox_allows(ctx, email):
        try:
            async with ctx.db.write() as session:
                await service.request_subscription(
                    session,
                    page,
                    email,
                    form.get("component", []),
                    now,
                    settings.subscribe_confirmations_per_day,
                )
        except ValidationFailed as exc:
            return await _render_form(ctx, page, error=str(exc), email=email)
        except IntegrityError:
            pass  # a simultaneous request created this address first: same answer
    return _html(
        "message.html",
        page=page,
        title="Check your inbox",
        text=f"If {email} can receive updates from {page.name}, a confirmation "
        "e-mail is on its way. Follow the link in it to start receiving updates: nothing is "
        "sent before that.",
    )


def _first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


async def _subscription(
    ctx: AppContext, page: StatusPage, token: str, purpose: str, max_age: int | None
) -> Subscription | None:
    key = await signing_key(ctx)
    found = read_token(key, token, purpose, ctx.clock.now(), max_age)
    if found is None:
        return None
    async with ctx.db.read() as session:
        subscription = await session.get(Subscription, found.subject)
    if subscription is None or subscription.status_page_id != page.id:
        return None
    return subscription


async def _linked(
    request: Request, slug: str, token: str, purpose: str, max_age: int | None = None
) -> tuple[StatusPage, Subscription] | Response:
    """The page and the subscription a signed link names, or the page to answer instead:
    404 for an unknown page, "bad link" for a token that is forged, expired or not this page's."""
    page = await _page(request, slug)
    if page is None:
        return _not_found()
    subscription = await _subscription(_ctx(request), page, token, purpose, max_age)
    if subscription is None:
        return _bad_link(page)
    return page, subscription


@router.get("/{slug}/subscribe/confirm")
@router.get("/subscribe/confirm")
async def confirm_form(request: Request, slug: str = "", token: str = "") -> Response:
    found = await _linked(request, slug, token, CONFIRM, CONFIRM_MAX_AGE)
    if isinstance(found, Response):
        return found
    page, subscription = found
    return _html(
        "confirm.html",
        page=page,
        title=f"Confirm your subscription to {page.name}",
        email=subscription.email,
        token=token,
    )


@router.post("/{slug}/subscribe/confirm")
@router.post("/subscribe/confirm")
async def confirm(request: Request, slug: str = "", token: str = "") -> Response:
    ctx = _ctx(request)
    found = await _linked(request, slug, token, CONFIRM, CONFIRM_MAX_AGE)
    if isinstance(found, Response):
        return found
    page, subscription = found
    async with ctx.db.write() as session:
        confirmed = await service.confirm(session, subscription.id, ctx.clock.now())
    if confirmed is None:
        return _html(
            "message.html",
            page=page,
            title="Not subscribed",
            text="This address unsubscribed after this link was sent. Subscribe again to "
            "receive updates.",
        )
    key = await signing_key(ctx)
    return _html(
        "message.html",
        page=page,
        title="You are subscribed",
        text=f"{subscription.email} will receive updates from {page.name}.",
        preferences_token=make_token(key, MANAGE, subscription.id, ctx.clock.now()),
    )


@router.get("/{slug}/unsubscribe")
@router.get("/unsubscribe")
async def unsubscribe_form(request: Request, slug: str = "", token: str = "") -> Response:
    found = await _linked(request, slug, token, MANAGE)
    if isinstance(found, Response):
        return found
    page, subscription = found
    return _html(
        "unsubscribe.html",
        page=page,
        title=f"Unsubscribe from {page.name}",
        email=subscription.email,
        token=token,
        done=subscription.unsubscribed_at is not None,
    )


@router.post("/{slug}/unsubscribe")
@router.post("/unsubscribe")
async def unsubscribe(request: Request, slug: str = "", token: str = "") -> Response:
    ctx = _ctx(request)
    found = await _linked(request, slug, token, MANAGE)
    if isinstance(found, Response):
        return found
    page, subscription = found
    async with ctx.db.write() as session:
        await service.unsubscribe(session, subscription.id, ctx.clock.now())
    return _html(
        "message.html",
        page=page,
        title="You are unsubscribed",
        text=f"{subscription.email} will receive no more updates from {page.name}.",
    )


@router.get("/{slug}/preferences")
@router.get("/preferences")
async def preferences_form(request: Request, slug: str = "", token: str = "") -> Response:
    ctx = _ctx(request)
    found = await _linked(request, slug, token, MANAGE)
    if isinstance(found, Response):
        return found
    page, subscription = found
    return _preferences(ctx, page, subscription, token, await _components(ctx, page))


def _preferences(
    ctx: AppContext,
    page: StatusPage,
    subscription: Subscription,
    token: str,
    components: list[tuple[str, str]],
    saved: bool = False,
) -> HTMLResponse:
    return _html(
        "preferences.html",
        page=page,
        title=f"Your subscription to {page.name}",
        email=subscription.email,
        token=token,
        components=components,
        chosen=set(subscription.component_ids or []),
        unsubscribed=subscription.unsubscribed_at is not None,
        saved=saved,
    )


@router.post("/{slug}/preferences")
@router.post("/preferences")
async def save_preferences(request: Request, slug: str = "", token: str = "") -> Response:
    ctx = _ctx(request)
    found = await _linked(request, slug, token, MANAGE)
    if isinstance(found, Response):
        return found
    page, subscription = found
    form = await _form(request)
    async with ctx.db.write() as session:
        updated = await service.set_components(
            session, subscription.id, form.get("component", []), ctx.clock.now()
        )
    assert updated is not None
    return _preferences(ctx, page, updated, token, await _components(ctx, page), saved=True)
