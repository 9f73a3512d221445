"""The Audit log screen in Debian's Chromium, at 1280 and 390 px, in both themes: reached
from the navigation, filtered by typing an actor, followed to an entry's incident; axe-core
finds no serious or critical violation and nothing sticks out sideways."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import SCHEMES, WIDTHS
from tests.console.helpers import PASSWORD, new_user, signed_in
from tests.console.test_audit import email_of
from tests.console.test_browser import _severe, _tab
from tests.console.test_publish_http import PUBLISHER, declare_data, form_of
from tests.factories import make_page
from tests.harness import LiveServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_audit_log_screen_lists_filters_and_links(
    server: LiveServer, browser: Browser, width: str, scheme: str
) -> None:
    page = make_page(server, components=2)
    publisher = signed_in(server, *PUBLISHER)
    actor = email_of(publisher)
    name = f"Seen in the log {uuid.uuid4().hex[:6]}"
    form = form_of(publisher, f"/admin/incidents/new?status_page_id={page.id}")
    declared = publisher.post("/admin/incidents/new", {**form, **declare_data(page, name)})
    assert declared.status_code == 303
    email = new_user(server, "viewer")
    tab = _tab(browser, width, scheme)
    tab.goto(f"{server.base_url}/admin")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("navigation", name="Console").get_by_role("link", name="Audit log").click()
    expect(tab.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    tab.get_by_label("Actor").fill(actor)
    tab.get_by_role("button", name="Filter").click()
    rows = tab.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)
    assert _severe(tab) == []
    assert tab.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    rows.first.get_by_role("link").click()
    expect(tab.get_by_role("heading", name=name, level=1)).to_be_visible()
    tab.context.close()
