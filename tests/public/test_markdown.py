"""Markdown from updates is rendered safely: no raw HTML, no script, no dangerous URLs."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from clarion.public.markdown import (
    TEXT_MEMO_BYTES,
    cached_markdown,
    cached_plain,
    render_markdown,
    render_plain,
)

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<div style="position:fixed" onmouseover="alert(1)">hover</div>',
    "<iframe src=https://evil.example></iframe>",
    "<svg><script>alert(1)</script></svg>",
    '[x](https://ok.example "title" onclick="alert(1)")',
    "<!-- <script>alert(1)</script> -->",
    "<form action=https://evil.example><input name=p></form>",
]


class Elements(HTMLParser):
    """Every element and attribute really present in an HTML document (not escaped text)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def assert_harmless(html: str, allowed_scripts: tuple[str, ...] = ()) -> None:
    """No script (except ``allowed_scripts`` by src), frames, objects, forms, styles, event
    handlers, or URLs with schemes other than http(s)/mailto in any element of ``html``."""
    for tag, attrs in Elements(html).found:
        if tag == "script":
            assert attrs.get("src") in allowed_scripts, attrs
        assert tag not in {"iframe", "object", "embed", "form", "input", "style", "svg", "img"}
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in {"href", "src", "action", "formaction"}:
                scheme = value.strip().split(":", 1)[0].lower() if ":" in value else ""
                assert scheme in {"", "http", "https", "mailto"}, (tag, value)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_as_harmless_html(text: str) -> None:
    assert_harmless(render_markdown(text))


def test_the_checker_catches_what_it_is_meant_to_catch() -> None:
    for bad in ('<a href="javascript:x">', "<script>x</script>", '<p onclick="x">', "<img>"):
        with pytest.raises(AssertionError):
            assert_harmless(bad)


def test_raw_html_is_shown_as_text_not_dropped() -> None:
    assert render_markdown("Use <b>bold</b>") == "<p>Use &lt;b&gt;bold&lt;/b&gt;</p>"


def test_ordinary_markdown_keeps_its_formatting_and_links_get_rel() -> None:
    out = render_markdown(
        "**Fixed** the _router_; see [the review](https://example.com/r).\n\n- one\n- two\n\n`code`"
    )
    assert "<strong>Fixed</strong>" in out and "<em>router</em>" in out
    assert '<a href="https://example.com/r" rel="nofollow noopener">the review</a>' in out
    assert "<ul>" in out and "<li>one</li>" in out and "<code>code</code>" in out


def test_mailto_links_are_kept_but_unknown_schemes_are_not() -> None:
    assert 'href="mailto:ops@example.com"' in render_markdown("[mail](mailto:ops@example.com)")
    assert "href=" not in render_markdown("[ftp](ftp://example.com/x)")


def test_plain_text_drops_markup_and_shortens() -> None:
    assert render_plain("**Hello** _there_ [link](https://x.example)") == "Hello there link"
    assert render_plain("a\n\nb   c") == "a b c"
    assert render_plain("x" * 50, limit=10) == "x" * 9 + "…"
    # Plain text is for contexts that escape it themselves: tags become their text.
    assert render_plain("<script>x</script>") == "<script>x</script>"


def test_the_memos_of_rendered_messages_hold_at_most_their_budget() -> None:
    """However much text is published (long messages, many of them), the memos the public
    site renders messages through stay within their budget and answer as the renderers do."""
    messages = [f"Update {n}: " + "still investigating " * 2000 for n in range(300)]
    for message in messages:
        assert cached_markdown(message) == render_markdown(message)
        assert cached_plain(message, 280) == render_plain(message, 280)
    for memo in (cached_markdown, cached_plain):
        assert 0 < memo.store.held_bytes <= TEXT_MEMO_BYTES
        assert len(memo.store) < len(messages)
