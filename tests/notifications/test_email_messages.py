"""What an incident e-mail looks like on the wire: both parts, safe Markdown, headers."""

from __future__ import annotations

import re

from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.helpers import add_subscribers, create_incident, drain, sdk_for
from tests.subscribers.smtp_sink import SmtpSink

__all__ = ["mail_server", "sink"]

HOSTILE = (
    "Ongoing **issue** with [the docs](https://docs.example.test/status).\n\n"
    "<script>alert('x')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    "[click me](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
    "- first\n- second\n"
)


def test_markdown_is_rendered_safely_in_the_html_and_the_text_part(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server)
    [reader] = add_subscribers(mail_server, page.id, 1)
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "Docs <b>down</b>", HOSTILE)
    drain(mail_server)
    [mail] = sink.to(reader)
    body, text = mail.html, mail.text
    assert "<strong>issue</strong>" in body
    assert 'href="https://docs.example.test/status"' in body
    assert "<li>first</li>" in body
    for bad in ("<script", 'href="javascript:', 'href="data:', "<img"):
        assert bad not in body.lower()
    assert re.search(r"<[^>]*\son\w+\s*=", body) is None  # no live event handler attribute
    assert "&lt;script&gt;" in body  # typed HTML is shown as text
    assert "&lt;b&gt;down&lt;/b&gt;" in body  # the title is escaped, not interpreted
    assert "the docs (https://docs.example.test/status)" in text
    assert "- first" in text and "**" not in text
    for bad in ("<script", "onerror", "<img", "<strong"):
        assert bad not in text.lower()


def test_the_message_names_the_page_the_status_and_the_affected_components(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server, components=2)
    api = next(iter(page.components.values()))
    [reader] = add_subscribers(mail_server, page.id, 1)
    with sdk_for(mail_server) as sdk:
        create_incident(
            sdk, page.id, "Slow API", "Looking.", components={api: "degraded_performance"}
        )
    drain(mail_server)
    [mail] = sink.to(reader)
    assert (
        mail.message["Subject"]
        == f"[Page {page.slug.removeprefix('page-')}] Investigating: Slow API"
    )
    assert mail.message["From"] == "Status <status@example.test>"
    assert mail.message["To"] == reader
    assert mail.mail_from == "status@example.test"
    assert "Component 0" in mail.text
    assert "Investigating" in mail.html
    assert mail.message["Message-ID"].endswith("@example.test>")
    assert mail.message["Auto-Submitted"] == "auto-generated"
