"""axe-core finds nothing on any subscription page, in both themes and at both widths, and
the pages wear the status page's own frame: its header, footer, styles and focus outlines."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import SCHEMES, WIDTHS, axe_violations, describe
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import confirmation_link, drain
from tests.subscribers.smtp_sink import SmtpSink

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SHOTS = ("subscribe with an error", "subscribed", "preferences saved")


@pytest.fixture(scope="module")
def page_info(mail_server: LiveServer) -> PageInfo:
    return make_page(mail_server, components=3)


def new_tab(browser: Browser, scheme: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(
        color_scheme=scheme,  # type: ignore[arg-type]
        viewport=viewport,  # type: ignore[arg-type]
    )
    return context.new_page()


def walk_every_subscription_page(
    tab: Page, server: LiveServer, sink: SmtpSink, slug: str, visit: object
) -> None:
    """Go through every subscription page a reader can meet, calling ``visit(name)`` on each:
    the form, its error, the inbox message, confirm, subscribed, preferences (saved and
    unsubscribed), unsubscribe (both states), the bad link, the expired form and not-found."""
    assert callable(visit)
    base = f"{server.base_url}/{slug}"
    reader = f"a11y-{uuid.uuid4().hex[:8]}@example.test"

    tab.goto(f"{base}/subscribe")
    visit("subscribe")
    # An address the browser lets through and the server refuses.
    tab.fill("#email", "nobody@")
    tab.eval_on_selector("form", "form => form.noValidate = true")
    tab.click("button[type=submit]")
    assert "valid e-mail" in tab.inner_text("main")
    visit("subscribe with an error")
    tab.fill("#email", reader)
    tab.check("input[name=component] >> nth=0")
    tab.click("button[type=submit]")
    assert "Check your inbox" in tab.inner_text("h1")
    visit("check your inbox")

    drain(server)
    [mail] = sink.to(reader)
    link = confirmation_link(mail)
    tab.goto(link)
    visit("confirm")
    tab.click("button[type=submit]")
    assert "You are subscribed" in tab.inner_text("h1")
    visit("subscribed")
    tab.click("text=Choose which components you hear about")
    visit("preferences")
    tab.click("button[type=submit]")
    assert "Saved." in tab.inner_text("main")
    visit("preferences saved")
    preferences = tab.url
    tab.click("main >> text=Unsubscribe")
    visit("unsubscribe")
    tab.click("button[type=submit]")
    assert "You are unsubscribed" in tab.inner_text("h1")
    visit("unsubscribed")
    tab.goto(preferences.replace("/preferences?", "/unsubscribe?"))
    visit("unsubscribe, already done")
    tab.goto(preferences)
    visit("preferences, unsubscribed")

    tab.goto(f"{base}/subscribe/confirm?token=forged")
    visit("bad link")
    tab.goto(f"{base}/subscribe")
    tab.eval_on_selector("input[name=form_token]", "input => input.value = 'stale'")
    tab.fill("#email", reader)
    tab.click("button[type=submit]")
    assert "Please try again" in tab.inner_text("h1")
    visit("expired form")
    tab.goto(f"{server.base_url}/no-such-page-{uuid.uuid4().hex[:6]}/subscribe")
    visit("no such page")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_axe_finds_nothing_on_any_subscription_page(
    browser: Browser,
    mail_server: LiveServer,
    sink: SmtpSink,
    page_info: PageInfo,
    scheme: str,
    width: str,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab = new_tab(browser, scheme, WIDTHS[width])
    found: list[str] = []

    def visit(name: str) -> None:
        found.extend(f"{name}: {line}" for line in describe(axe_violations(tab)))
        if name in SHOTS:
            shot = f"{name.replace(' ', '-')}-{scheme}-{width}.png"
            tab.screenshot(path=str(SCREENSHOTS / shot), full_page=True)

    try:
        walk_every_subscription_page(tab, mail_server, sink, page_info.slug, visit)
    finally:
        tab.context.close()
    assert found == [], "\n".join(found)


#: The page background and the link colour (buttons) of each theme.
THEMES = {
    "light": ("rgb(246, 247, 249)", "rgb(11, 92, 173)"),
    "dark": ("rgb(13, 17, 23)", "rgb(88, 166, 255)"),
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_subscribe_page_wears_the_status_pages_frame_and_styles(
    browser: Browser, mail_server: LiveServer, page_info: PageInfo, scheme: str, width: str
) -> None:
    tab = new_tab(browser, scheme, WIDTHS[width])
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    frame = "el => el.outerHTML.replace(' aria-current=\"page\"', '')"
    try:
        tab.goto(f"{mail_server.base_url}/{page_info.slug}")
        header = tab.eval_on_selector("header.site-header", frame)
        feeds = tab.eval_on_selector("footer ul.feeds", frame)

        tab.goto(f"{mail_server.base_url}/{page_info.slug}/subscribe")
        # The same header and footer as the status page; "Subscribe" is where the reader is.
        assert tab.eval_on_selector("header.site-header", frame) == header
        assert tab.eval_on_selector("footer ul.feeds", frame) == feeds
        assert tab.get_attribute(".nav .button", "aria-current") == "page"
        assert tab.inner_text(".brand") == f"Page {page_info.slug.removeprefix('page-')}"
        assert "Powered by Clarion" in tab.inner_text("footer")
        # The site's styles in this theme: its background, a styled button.
        background, link = THEMES[scheme]
        assert tab.evaluate("getComputedStyle(document.body).backgroundColor") == background
        button = tab.locator("button[type=submit]")
        assert button.evaluate("el => getComputedStyle(el).backgroundColor") == link
        assert button.evaluate("el => getComputedStyle(el).borderTopWidth") == "0px"
        # Visible focus, from the keyboard, on the field and on the button.
        tab.locator("body").focus()
        for _ in range(20):
            tab.keyboard.press("Tab")
            if tab.evaluate("document.activeElement.id") == "email":
                break
        else:
            raise AssertionError("the e-mail field is not reachable with Tab")
        outline = "() => { const s = getComputedStyle(document.activeElement);"
        outline += " return [s.outlineStyle, s.outlineWidth]; }"
        assert tab.evaluate(outline) == ["solid", "3px"]
        button.focus()
        tab.keyboard.press("Shift+Tab")
        tab.keyboard.press("Tab")
        assert tab.evaluate("document.activeElement.type") == "submit"
        assert tab.evaluate(outline) == ["solid", "3px"]
        # Nothing wider than a phone.
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert tab.evaluate(overflow) <= 0
        # A page that does not exist still answers in the site's styles.
        tab.goto(f"{mail_server.base_url}/no-such-page/subscribe")
        assert tab.evaluate("getComputedStyle(document.body).backgroundColor") == background
        assert [p for p in problems if "404" not in p] == []
    finally:
        tab.context.close()
