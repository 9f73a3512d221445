"""Publishing from the console in Debian's Chromium, as a person does it, once at 1280 px and
once at 390 px: sign in, declare an incident with two components impacted (the Markdown
preview rendered while typing), see it on the public page and through incident.io's SDK, post
two updates, resolve, schedule maintenance and complete it, backfill a past incident, sign
out. axe-core finds no serious or critical violation on any publishing screen, nothing sticks
out sideways, and no script error or CSP violation happens."""

from __future__ import annotations

import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_incident as show_incident,
)
from playwright.sync_api import Browser, Page, expect

from tests.browser import WIDTHS, axe_violations, describe
from tests.console.helpers import PASSWORD, new_user
from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import add_subscribers

pytestmark = pytest.mark.browser
SEVERE = {"serious", "critical"}


def _checked(tab: Page, width: int) -> None:
    """The screen as it is now: no serious or critical axe violation, nothing wider than the
    window."""
    assert describe([v for v in axe_violations(tab) if v["impact"] in SEVERE]) == []
    assert tab.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_publish_an_incident_and_maintenance_from_the_console(
    server: LiveServer, browser: Browser, sdk: AuthenticatedClient, width: str
) -> None:
    make_page(server, components=1)  # two pages at least: the form asks which one
    page = make_page(server, components=3)
    page_name = f"Page {page.slug.removeprefix('page-')}"
    c0, c1, c2 = (page.components[k] for k in sorted(page.components))
    add_subscribers(server, page.id, 2)
    email = new_user(server, "viewer", "status_page_publisher")
    size = WIDTHS[width]["width"]
    context = browser.new_context(viewport=WIDTHS[width])  # type: ignore[arg-type]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    base = server.base_url

    tab.goto(f"{base}/admin")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{base}/admin")

    # Declare, with two components impacted.
    tab.get_by_role("navigation", name="Console").get_by_role("link", name="Incidents").click()
    tab.get_by_role("link", name="Declare incident").click()
    expect(tab.get_by_role("heading", name="Declare incident", level=1)).to_be_visible()
    with tab.expect_response(lambda r: "/admin/incidents/new?" in r.url):
        tab.get_by_label("Status page").select_option(label=page_name)
    expect(tab.locator(f"#field-impact-{c0}")).to_be_visible()
    tab.get_by_label("Name", exact=True).fill("Checkout errors")
    tab.get_by_label("Status", exact=True).select_option(label="Investigating")
    tab.get_by_label("Message").fill("Payments **fail** for some customers.")
    expect(tab.locator("#field-message-preview strong")).to_have_text("fail")
    tab.get_by_label("Component 0", exact=True).select_option(label="Partial outage")
    tab.get_by_label("Component 1", exact=True).select_option(label="Degraded performance")
    notify = tab.get_by_label("Notify subscribers")
    expect(notify).to_be_checked()
    expect(tab.get_by_text("2 subscribers will be notified")).to_be_visible()
    _checked(tab, size)
    tab.get_by_role("button", name="Publish").click()
    expect(tab.get_by_role("heading", name="Checkout errors", level=1)).to_be_visible()
    expect(tab.get_by_role("status")).to_contain_text("Published the incident")
    _checked(tab, size)
    incident_url = tab.url
    incident_id = incident_url.rsplit("/", 1)[1]

    # The public page and the SDK see it.
    tab.get_by_role("link", name="Public permalink of this incident").click()
    expect(tab).to_have_url(f"{base}/{page.slug}/incidents/{incident_id}")
    expect(tab.get_by_role("heading", name="Checkout errors")).to_be_visible()
    expect(tab.get_by_text("Partial outage").first).to_be_visible()
    shown = show_incident.sync_detailed(incident_id, client=sdk).parsed
    assert shown is not None
    impacts = {
        i.component_id: str(i.component_status)
        for i in shown.status_page_incident.component_impacts
    }
    assert impacts == {c0: "partial_outage", c1: "degraded_performance"}
    tab.goto(incident_url)

    # Two updates, then resolved.
    for status, message in (("Identified", "Found the cause."), ("Monitoring", "Fix deployed.")):
        tab.get_by_label("Status", exact=True).select_option(label=status)
        tab.get_by_label("Message").fill(message)
        tab.get_by_role("button", name="Post update").click()
        expect(tab.get_by_role("status")).to_contain_text("Published the update")
        expect(tab.locator("#timeline")).to_contain_text(message)
    tab.get_by_label("Status", exact=True).select_option(label="Resolved")
    tab.get_by_label("Message").fill("All payments work again.")
    tab.get_by_label("Notify subscribers").uncheck()
    tab.get_by_role("button", name="Post update").click()
    expect(tab.locator(".timeline__item")).to_have_count(4)
    expect(tab.locator("h1 + p .tag")).to_have_text("Resolved")
    _checked(tab, size)

    # Schedule maintenance, then complete it.
    tab.get_by_role("navigation", name="Console").get_by_role("link", name="Maintenance").click()
    tab.get_by_role("link", name="Schedule maintenance").click()
    with tab.expect_response(lambda r: "/admin/maintenance/new?" in r.url):
        tab.get_by_label("Status page").select_option(label=page_name)
    expect(tab.locator(f"#component-{c2}")).to_be_visible()
    tab.get_by_label("Name", exact=True).fill("Database upgrade")
    tab.get_by_label("Starts").fill("2099-03-01T02:00")
    tab.get_by_label("Ends").fill("2099-03-01T04:00")
    tab.get_by_label("Time zone").select_option("Europe/Paris")
    expect(tab.locator("#window-utc")).to_contain_text("Sun 1 Mar 2099, 01:00 UTC")
    tab.get_by_label("Message").fill("The database will be read-only.")
    tab.get_by_label("Component 2", exact=True).check()
    _checked(tab, size)
    tab.get_by_role("button", name="Schedule", exact=True).click()
    expect(tab.get_by_role("heading", name="Database upgrade", level=1)).to_be_visible()
    expect(tab.get_by_role("status")).to_contain_text("Scheduled the maintenance")
    _checked(tab, size)
    tab.get_by_label("Status", exact=True).select_option(label="In progress")
    tab.get_by_label("Component 2", exact=True).select_option(label="Under maintenance")
    tab.get_by_label("Message").fill("Started early.")
    tab.get_by_role("button", name="Post update").click()
    expect(tab.locator("h1 + p .tag")).to_have_text("In progress")
    expect(tab.locator(".timeline__item").first).to_contain_text("Component 2: under maintenance")
    tab.get_by_role("button", name="Complete maintenance").click()
    expect(tab.locator("h1 + p .tag")).to_have_text("Completed")

    # Backfill a past incident.
    tab.get_by_role("navigation", name="Console").get_by_role("link", name="Incidents").click()
    tab.get_by_role("link", name="Backfill a past incident").click()
    tab.get_by_label("Status page").select_option(label=page_name)
    tab.get_by_role("button", name="Show its components").click()
    expect(tab.locator(f"#field-u0_impact-{c0}")).to_be_visible()
    tab.get_by_label("Name", exact=True).fill("Last week's outage")
    first = tab.get_by_role("group", name="Update 1")
    first.get_by_label("Published at").fill("2026-01-05T09:00")
    first.get_by_label("Message").fill("Errors everywhere.")
    first.get_by_label("Component 1", exact=True).select_option(label="Full outage")
    last = tab.get_by_role("group", name="Update 3")
    last.get_by_label("Published at").fill("2026-01-05T10:30")
    last.get_by_label("Message").fill("Resolved.")
    _checked(tab, size)
    tab.get_by_role("button", name="Record incident").click()
    expect(tab.get_by_role("heading", name="Last week's outage", level=1)).to_be_visible()
    expect(tab.get_by_text("(recorded afterwards)")).to_be_visible()
    expect(tab.locator(".timeline__item")).to_have_count(2)

    # Sign out.
    tab.get_by_role("navigation", name="Console").get_by_role("link", name="Sign out").click()
    tab.get_by_role("button", name="Sign out", exact=True).click()
    expect(tab.get_by_text("You have signed out.")).to_be_visible()
    assert errors == []
    context.close()
