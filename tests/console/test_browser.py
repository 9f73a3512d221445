"""The console in Debian's Chromium, at 1280 and 390 px, in both themes: sign in with the
labelled fields (after a wrong password), see the overview, sign out; axe-core finds no
serious or critical violation on the sign-in page (with and without its error) or the
overview. Signing in works without JavaScript too."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import SCHEMES, WIDTHS, axe_violations, describe
from tests.console.helpers import PASSWORD, new_user
from tests.factories import make_page
from tests.harness import LiveServer

pytestmark = pytest.mark.browser
SEVERE = {"serious", "critical"}


def _tab(browser: Browser, width: str, scheme: str, javascript: bool = True) -> Page:
    context = browser.new_context(
        viewport=WIDTHS[width],  # type: ignore[arg-type]
        color_scheme=scheme,  # type: ignore[arg-type]
        java_script_enabled=javascript,
    )
    return context.new_page()


def _severe(tab: Page) -> list[str]:
    return describe([v for v in axe_violations(tab) if v["impact"] in SEVERE])


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_sign_in_see_the_overview_and_sign_out(
    server: LiveServer, browser: Browser, width: str, scheme: str
) -> None:
    make_page(server, components=2)
    email = new_user(server, "manage_settings")
    tab = _tab(browser, width, scheme)
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto(f"{server.base_url}/admin")
    expect(tab).to_have_url(f"{server.base_url}/admin/sign-in")
    assert _severe(tab) == []
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill("not the right one at all")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("alert")).to_contain_text("The e-mail address or the password")
    assert _severe(tab) == []  # the page with its error
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{server.base_url}/admin")
    expect(tab.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    nav = tab.get_by_role("navigation", name="Console")
    for name in ("Overview", "Incidents", "Maintenance", "Audit log", "Sign out"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    assert _severe(tab) == []
    # Nothing sticks out sideways at 390 px.
    assert tab.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    nav.get_by_role("link", name="Sign out").click()
    tab.get_by_role("button", name="Sign out", exact=True).click()
    expect(tab).to_have_url(f"{server.base_url}/admin/sign-in?signed_out=out")
    expect(tab.get_by_text("You have signed out.")).to_be_visible()
    tab.goto(f"{server.base_url}/admin")
    expect(tab).to_have_url(f"{server.base_url}/admin/sign-in")
    # No CSP violation, no script error (the wrong password's page is a 400, which Chromium
    # reports too).
    assert [e for e in errors if "status of 400" not in e] == []
    tab.context.close()


def test_a_wrong_password_is_reported_next_to_the_form_and_works_without_javascript(
    server: LiveServer, browser: Browser
) -> None:
    email = new_user(server)
    tab = _tab(browser, "phone", "light", javascript=False)
    tab.goto(f"{server.base_url}/admin/incidents")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill("not the right one at all")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("alert")).to_contain_text("The e-mail address or the password")
    expect(tab.get_by_label("Email")).to_have_value(email)
    expect(tab.get_by_label("Password")).to_have_value("")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{server.base_url}/admin/incidents")
    tab.context.close()


def test_the_overview_refreshes_itself_with_javascript(
    server: LiveServer, browser: Browser
) -> None:
    import uuid

    from tests.contract.checks import Raw
    from tests.factories import make_key

    page = make_page(server, components=1)
    email = new_user(server)
    tab = _tab(browser, "desktop", "light")
    tab.clock.install()
    tab.goto(f"{server.base_url}/admin")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    name = f"Refreshed {uuid.uuid4().hex[:6]}"
    api = Raw(server.base_url, make_key(server))
    created = api.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": name,
            "incident_status": "investigating",
            "message": "Looking.",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert created.status_code == 201
    expect(tab.get_by_text(name)).to_have_count(0)
    tab.clock.fast_forward("00:31")
    expect(tab.get_by_role("link", name=name)).to_be_visible()
    assert tab.locator("#live").count() == 1  # swapped in place, not nested
    tab.context.close()
