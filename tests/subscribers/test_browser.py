"""The subscription pages in Debian's Chromium: a reader subscribes from the public page's
link, confirms from the e-mail, and changes preferences, with no console errors (CSP included)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser

from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import confirmation_link, drain
from tests.subscribers.smtp_sink import SmtpSink

pytestmark = pytest.mark.browser


def test_a_reader_subscribes_confirms_and_chooses_components_in_a_real_browser(
    browser: Browser, mail_server: LiveServer, sink: SmtpSink
) -> None:
    page_info = make_page(mail_server, components=2)
    reader = f"browser-{uuid.uuid4().hex[:8]}@example.test"
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))

    tab.goto(f"{mail_server.base_url}/{page_info.slug}/subscribe")
    tab.fill("#email", reader)
    tab.check("input[name=component] >> nth=1")
    tab.click("button[type=submit]")
    assert "Check your inbox" in tab.inner_text("h1")

    drain(mail_server)
    [mail] = sink.to(reader)
    tab.goto(confirmation_link(mail))
    tab.click("button[type=submit]")
    assert "You are subscribed" in tab.inner_text("h1")

    tab.click("text=Choose which components you hear about")
    boxes = tab.locator("input[name=component]")
    assert boxes.nth(1).is_checked() and not boxes.nth(0).is_checked()
    boxes.nth(0).check()
    tab.click("button[type=submit]")
    assert tab.locator("input[name=component]").nth(0).is_checked()
    assert "Saved." in tab.inner_text("main")
    blocked = [p for p in problems if "favicon" not in p]
    assert blocked == [], blocked
