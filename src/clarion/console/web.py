"""What every console page uses: its links, templates, security headers, the signed-in user
(with the role a route needs, and the CSRF check of every form post), and error pages.

Every console route is a ``ConsoleRoute``: what it answers, including its errors (Clarion's
errors become HTML pages here, never the API's JSON envelope), carries the security headers:
a CSP without inline script (``script-src 'self'``), ``frame-ancestors 'none'``, ``nosniff``,
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from clarion.console.forms import Form, read_form
from clarion.console.sessions import Visit, find_visit, take_flash
from clarion.context import AppContext
from clarion.errors import ClarionError, Forbidden, RateLimited
from clarion.http.validation import details_from_pydantic
from clarion.public.html import BANNERS, label_filters
from clarion.settings import Settings
from clarion.timeutil import to_utc

SESSION_COOKIE = "clarion_console"
#: The sign-in form's own CSRF token (before there is a session), double-submitted.
SIGN_IN_COOKIE = "clarion_console_sign_in"
STATIC_DIR = Path(__file__).parent / "static"
HTMX = "htmx-2.0.11.min.js"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
#: Assets are linked with their content's digest (``?v=``), so browsers may keep them.
STATIC_CACHE_CONTROL = "public, max-age=31536000, immutable"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSRF_FIELD = "csrf_token"
#: Sent by a page that refreshes itself (htmx polling): such requests do not count as activity.
POLL_HEADER = "x-clarion-poll"
#: How often the overview refreshes itself when JavaScript runs.
REFRESH_SECONDS = 30
CSRF_MESSAGE = (
    "This form has expired or was not sent from this page. Go back, reload the page and try again."
)


@dataclass(frozen=True)
class Links:
    """The console's URLs: ``links("incidents")`` is ``BASE_PATH/admin/incidents``."""

    base: str

    def __call__(self, path: str = "") -> str:
        return self.base + ("/" + path.lstrip("/") if path else "")

    def asset(self, name: str) -> str:
        asset = static_asset(name)
        version = asset[2] if asset is not None else "0"
        return f"{self.base}/static/{name}?v={version}"

    def safe_next(self, target: str | None) -> str:
        """``target`` when it is a path of this console (where to go after signing in), else
        the console's home: never another site, never a scheme-relative or odd URL."""
        if not target or len(target) > 2000 or any(c in target for c in "\\\r\n\t\x00"):
            return self.base
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith("//"):
            return self.base
        if parts.path != self.base and not parts.path.startswith(self.base + "/"):
            return self.base
        return target


@lru_cache(maxsize=4)
def links_for(base_url: str) -> Links:
    return Links(urlsplit(base_url).path.rstrip("/") + "/admin")


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def links_of(request: Request) -> Links:
    return links_for(context_of(request).settings.base_url)


@lru_cache(maxsize=16)
def static_asset(name: str) -> tuple[bytes, str, str] | None:
    """A bundled asset's bytes, content type and digest, or None."""
    path = STATIC_DIR / name
    kind = STATIC_TYPES.get(path.suffix)
    if "/" in name or name.startswith(".") or kind is None or not path.is_file():
        return None
    body = path.read_bytes()
    return body, kind, hashlib.blake2b(body, digest_size=6).hexdigest()


# -- templates ---------------------------------------------------------------------------------


def _when(moment: datetime | None) -> Markup:
    """A moment in UTC, as a ``<time>`` element."""
    if moment is None:
        return Markup("")
    utc = to_utc(moment)
    return Markup('<time datetime="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%d %b %Y, %H:%M UTC")
    )


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("clarion.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters.update(label_filters())
    env.globals["banners"] = BANNERS
    env.globals["htmx"] = HTMX
    env.globals["refresh_seconds"] = REFRESH_SECONDS
    return env


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """``template`` rendered with what every console page has: ``links``, the signed-in
    ``visit`` (or None), its ``csrf_token``, a ``flash`` message and an empty ``form``
    unless given."""
    visit: Visit | None = getattr(request.state, "console_visit", None)
    values.setdefault("visit", visit)
    values.setdefault("csrf_token", visit.csrf_token if visit is not None else "")
    values.setdefault("flash", None)
    values.setdefault("form", Form())
    values.setdefault("active", "")
    body = environment().get_template(template).render(links=links_of(request), **values)
    return HTMLResponse(body, status_code=status)


async def page(request: Request, template: str, visit: Visit, **values: Any) -> HTMLResponse:
    """A signed-in page: ``render``, with the session's flash message (cleared once shown)."""
    flash = await take_flash(context_of(request), visit)
    return render(request, template, flash=flash, **values)


def see_other(location: str) -> RedirectResponse:
    """The answer to a successful form post: go to ``location`` (POST, redirect, GET)."""
    return RedirectResponse(location, status_code=303)


# -- the signed-in user ------------------------------------------------------------------------


class SignInRequired(Exception):
    """No live session: the answer is the sign-in page (a 303 to it)."""


def same_origin(request: Request, settings: Settings) -> bool:
    """A form post's ``Origin``, when the browser sends one other than ``null``, must be this
    site (defence in depth beside the CSRF token)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    base = urlsplit(settings.base_url)
    allowed = {f"{base.scheme}://{base.netloc}"}
    host = request.headers.get("host")
    if host:
        allowed.add(f"{request.url.scheme}://{host}")
    return origin.rstrip("/") in allowed


def signed_in(role: str | None = None) -> Callable[[Request], Awaitable[Visit]]:
    """A dependency: the request's session and user (else the sign-in page), whose role must
    include ``role`` when given (else a 403 page, nothing done). A request that may change
    anything (not GET or HEAD) must carry the session's CSRF token (form field
    ``csrf_token``, or the ``X-CSRF-Token`` header) and come from this site (else 403)."""

    async def dependency(request: Request) -> Visit:
        ctx = context_of(request)
        visit = await find_visit(
            ctx,
            request.cookies.get(SESSION_COOKIE, ""),
            seen=request.headers.get(POLL_HEADER) is None,
        )
        if visit is None:
            raise SignInRequired
        request.state.console_visit = visit
        if request.method not in ("GET", "HEAD"):
            form = await read_form(request)
            token = form.get(CSRF_FIELD) or request.headers.get("x-csrf-token", "")
            if not visit.csrf_matches(token) or not same_origin(request, ctx.settings):
                raise Forbidden(CSRF_MESSAGE, code="csrf_token_invalid")
        if role is not None and not visit.has(role):
            raise Forbidden(
                f"Your account does not have the '{role}' role, which this needs. Ask someone "
                "who manages Clarion to give it to you.",
            )
        return visit

    return dependency


def cookie_settings(request: Request) -> dict[str, Any]:
    """The attributes of the console's cookies."""
    settings = context_of(request).settings
    return {
        "path": links_of(request).base,
        "httponly": True,
        "samesite": "lax",
        "secure": settings.base_url.startswith("https://"),
    }


def to_sign_in(request: Request) -> Response:
    """A 303 to the sign-in page, coming back here afterwards (for a page, not a post). To
    htmx, which would follow a redirect inside the page, an ``HX-Redirect`` instead: the
    whole page goes to the sign-in page."""
    links = links_of(request)
    target = links("sign-in")
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if links.safe_next(here) != links.base:
            target += "?next=" + quote(here, safe="/")
    response: Response = see_other(target)
    if request.headers.get("hx-request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": target})
    if SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, **cookie_settings(request))
    return response


# -- answers -----------------------------------------------------------------------------------

TITLES = {
    400: "This request cannot be handled",
    403: "You cannot do this",
    404: "Not found",
    405: "Not found",
    409: "This conflicts with what is there",
    422: "Please check what you entered",
    429: "Too many attempts",
    503: "Clarion cannot answer now",
}


def error_page(request: Request, error: ClarionError) -> HTMLResponse:
    """Clarion's ``error`` as a console page with its status."""
    response = render(
        request,
        "message.html",
        status=error.status,
        title=TITLES.get(error.status, "Something went wrong"),
        messages=[detail.message for detail in error.details],
    )
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.info.retry_after_seconds)
    return response


def secured(response: Response) -> Response:
    """``response`` with the console's security headers (``no-store`` unless it is an
    asset)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class ConsoleRoute(APIRoute):
    """A console route: its errors are console pages, and every answer is ``secured``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = to_sign_in(request)
            except ClarionError as error:
                response = error_page(request, error)
            except RequestValidationError as error:
                response = error_page(request, details_from_pydantic(error.errors()))
            return secured(response)

        return console
