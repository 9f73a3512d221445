"""Markdown from incident and maintenance updates, rendered safely for the public site.

Two layers, because either alone has failed somewhere before:

1. markdown-it-py with the ``js-default`` preset: raw HTML is *not* passed through (it is
   escaped as text) and link targets are checked (``javascript:``, ``vbscript:``, ``file:``
   and ``data:`` URLs are refused).
2. nh3 (ammonia) over the result with an allow-list of tags, attributes and URL schemes, so
   that nothing a parser bug lets through can carry script, event handlers or styles.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

from clarion.lru import MIB, bytes_memo

ALLOWED_TAGS = frozenset(
    {
        "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"
#: The bytes each memo of rendered text may hold (``cached_markdown``, ``cached_plain``, the
#: calendar's events).
TEXT_MEMO_BYTES = 8 * MIB


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("js-default")


def render_markdown(text: str) -> str:
    """Safe HTML for ``text`` (Markdown): no raw HTML, no script, no ``javascript:``/``data:``
    URLs, no event handlers or styles; links carry ``rel="nofollow noopener"``."""
    rendered = _parser().render(text or "")
    return nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    ).strip()


_SPACE = re.compile(r"\s+")


def render_plain(text: str, limit: int | None = None) -> str:
    """``text`` (Markdown) as plain text on one line: for titles, tooltips and summaries.

    The result is *not* HTML-escaped (templates and feed writers escape it); markup is removed,
    not shown. ``limit`` shortens it to at most that many characters with an ellipsis.
    """
    stripped = nh3.clean(_parser().render(text or ""), tags=set())
    plain = _SPACE.sub(" ", html.unescape(stripped)).strip()
    if limit is not None and len(plain) > limit:
        plain = plain[: max(limit - 1, 0)].rstrip() + "…"
    return plain


#: ``render_markdown`` and ``render_plain`` memoised for the public site: messages rarely change
#: once published, and every render of a page or feed shows many of them again.
cached_markdown = bytes_memo(TEXT_MEMO_BYTES)(render_markdown)
cached_plain = bytes_memo(TEXT_MEMO_BYTES)(render_plain)
