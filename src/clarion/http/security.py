"""The security headers of Clarion's answers, built in one place.

``RequestMiddleware`` adds them to every answer that does not set the header itself:
``public_security_headers`` on the public site (pages, JSON, feeds, badge, subscription pages)
and ``API_SECURITY_HEADERS`` on the API. A part of the app with stricter needs sets its own
value of a header, and keeps it.

- ``Content-Security-Policy``: the public page loads its own stylesheet, script, icon and
  nothing else; no inline script or style, no plugins, no ``<base>``; forms post to the site
  itself; ``frame-ancestors`` is the setting ``CLARION_PUBLIC_FRAME_ANCESTORS`` (``'none'``
  by default: no other site may frame the page; ``'self' https://intranet.example.com`` lets
  those embed it).
- ``X-Frame-Options`` for browsers without ``frame-ancestors``: ``DENY`` for ``'none'``,
  ``SAMEORIGIN`` for ``'self'``, left out for any other list (it cannot express one).
- ``X-Content-Type-Options: nosniff`` (API answers too): a feed or JSON document is never
  read as HTML or script.
- ``Referrer-Policy: strict-origin-when-cross-origin``: other sites learn at most the origin.
"""

from __future__ import annotations

import re

from starlette.types import Scope

#: First path segments of the API, and the API's own documents.
API_SEGMENTS = frozenset({"v1", "v2"})
API_PATHS = frozenset({"/openapi.json", "/healthz"})
#: A ``frame-ancestors`` source list: ``'none'``, ``'self'``, schemes, hosts and origins.
_SOURCE_LIST = re.compile(r"^[A-Za-z0-9'*:/.\-_ \[\]]+$")

API_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)


def frame_ancestors_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a ``frame-ancestors`` source list, if anything."""
    if not value.strip() or not _SOURCE_LIST.match(value):
        return (
            "must be a CSP source list such as 'none', 'self' or "
            "'self' https://intranet.example.com"
        )
    return None


def public_security_headers(frame_ancestors: str = "'none'") -> tuple[tuple[bytes, bytes], ...]:
    """The security headers of a public answer (see the module), as ASGI header pairs."""
    sources = " ".join(frame_ancestors.split())
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {sources}"
    )
    headers = [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]
    framing = {"'none'": b"DENY", "'self'": b"SAMEORIGIN"}.get(sources)
    if framing is not None:
        headers.append((b"x-frame-options", framing))
    return tuple(headers)


def is_api(scope: Scope) -> bool:
    """Whether the request is for the API (its routes, the OpenAPI document, ``/healthz``)."""
    path: str = scope.get("path", "")
    return path[1:].split("/", 1)[0] in API_SEGMENTS or path in API_PATHS
