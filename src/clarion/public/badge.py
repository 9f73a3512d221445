"""An SVG status badge (``badge.svg``) for READMEs and dashboards.

Two halves like the usual flat badges: a grey label ("status") and the page's rollup in words
on its colour. The words always carry the meaning (never the colour alone), the SVG has
``role="img"``, an ``aria-label`` and a ``<title>`` naming the page, and every text that comes
from the page is XML-escaped.
"""

from __future__ import annotations

from html import escape

from clarion.public.cache import RenderContext, ResourceRegistry, register_public_resource
from clarion.public.snapshot import PageSnapshot
from clarion.public.statuspage_json import INDICATOR_DESCRIPTION, Source, indicator
from clarion.text import xml_safe

BADGE_PATH = "badge.svg"
SVG_TYPE = "image/svg+xml; charset=utf-8"
LABEL = "status"

#: indicator -> (short text, background, text colour). Colours keep a contrast ratio of at
#: least 4.5:1 with their text.
STYLES = {
    "none": ("operational", "#1a7f37", "#ffffff"),
    "minor": ("degraded", "#9a6700", "#ffffff"),
    "major": ("partial outage", "#bc4c00", "#ffffff"),
    "critical": ("major outage", "#cf222e", "#ffffff"),
    "maintenance": ("maintenance", "#0969da", "#ffffff"),
}
LABEL_BACKGROUND = "#555555"

# Advance widths of 11px Verdana (the usual badge font) for common characters, in pixels; the
# rest get an average. Exactness only matters for padding.
_WIDE = set("mwMW@%")
_NARROW = set("ijlft.,:;!|' ")


def text_width(text: str) -> int:
    width = 0.0
    for char in text:
        if char in _WIDE:
            width += 10.5
        elif char in _NARROW:
            width += 4.0
        elif char.isupper() or char.isdigit():
            width += 7.5
        else:
            width += 6.8
    return round(width)


def render_svg(page_name: str, level: str) -> bytes:
    """The badge for a page whose rollup indicator is ``level``."""
    words, background, foreground = STYLES.get(level, STYLES["none"])
    description = INDICATOR_DESCRIPTION.get(level, INDICATOR_DESCRIPTION["none"])
    left = text_width(LABEL) + 12
    right = text_width(words) + 12
    total = left + right
    title = escape(xml_safe(f"{page_name}: {description}"))
    label = escape(f"{LABEL}: {words}")
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" \
viewBox="0 0 {total} 20" role="img" aria-label="{label}">
<title>{title}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>\
<stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)">
<rect width="{left}" height="20" fill="{LABEL_BACKGROUND}"/>
<rect x="{left}" width="{right}" height="20" fill="{background}"/>
<rect width="{total}" height="20" fill="url(#s)"/>
</g>
<g fill="#fff" text-anchor="middle" \
font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{left / 2:g}" y="14">{escape(LABEL)}</text>
<text x="{left + right / 2:g}" y="14" fill="{foreground}">{escape(words)}</text>
</g>
</svg>
"""
    return svg.encode()


def render_badge(snap: PageSnapshot, context: RenderContext) -> bytes:
    return render_svg(snap.page.name, indicator(Source(snap, context.public_url)))


def register_resources(registry: ResourceRegistry) -> None:
    """Serve ``badge.svg`` under each page (embeddable anywhere: CORS allowed)."""
    register_public_resource(
        registry,
        BADGE_PATH,
        SVG_TYPE,
        render_badge,
        headers={"Access-Control-Allow-Origin": "*"},
    )
