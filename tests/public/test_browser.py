"""The public page in Debian's Chromium (Playwright): themes, widths, keyboard, console."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from incident_io import AuthenticatedClient
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.browser import DESKTOP, PHONE
from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.public.test_page import make_display_page, post_update, publish

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def busy_page(server: LiveServer) -> str:
    """A page with a group, a sub-page, an ongoing and a resolved incident."""
    from incident_io import AuthenticatedClient as Client

    from tests.factories import make_key

    slug, keys = make_display_page(server)

    async def ids(ctx: object) -> dict[str, str]:
        from sqlalchemy import select

        from clarion.components.models import Component
        from clarion.status_pages.models import StatusPage

        assert hasattr(ctx, "db")
        async with ctx.db.read() as session:
            page_id = await session.scalar(select(StatusPage.id).where(StatusPage.slug == slug))
            found = {
                c.key: c.id
                for c in await session.scalars(
                    select(Component).where(Component.key.in_(keys.values()))
                )
            }
        return {"page": str(page_id), **{k: found[v] for k, v in keys.items()}}

    found = server.call(ids)
    with Client(base_url=server.base_url, token=make_key(server)) as sdk:
        old = publish(
            sdk,
            found["page"],
            "Login errors",
            "Some **logins** failed.",
            {found["api"]: "full_outage"},
        )
        post_update(sdk, old, "Fixed: see [the report](https://example.com/report).")
        publish(
            sdk,
            found["page"],
            "Slow responses in Frankfurt",
            "We are investigating higher latency.",
            {found["eu"]: "degraded_performance"},
        )
    return slug


def open_page(
    browser: Browser, url: str, *, scheme: str, viewport: dict[str, int]
) -> tuple[Page, list[str]]:
    context = browser.new_context(
        color_scheme=scheme,  # type: ignore[arg-type]
        viewport=viewport,  # type: ignore[arg-type]
        timezone_id="America/New_York",
    )
    page = context.new_page()
    messages: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            messages.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: messages.append(f"uncaught: {exc}"))
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    return page, messages


def problems(messages: list[str]) -> list[str]:
    """Console errors and warnings, and uncaught exceptions, seen so far."""
    return list(messages)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_page_renders_without_console_errors_in_both_themes_and_widths(
    browser: Browser, server: LiveServer, busy_page: str, scheme: str, width: str
) -> None:
    viewport = DESKTOP if width == "desktop" else PHONE
    page, messages = open_page(
        browser, f"{server.base_url}/{busy_page}", scheme=scheme, viewport=viewport
    )
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"page-{scheme}-{width}.png"), full_page=True)
        assert problems(messages) == []
        assert page.locator("h1").first.inner_text() == "Some systems are degraded"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        dark = background in ("rgb(13, 17, 23)",)
        assert dark == (scheme == "dark"), background
        # No horizontal scrolling on a phone.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        # Times were converted to the reader's zone by the script.
        first_time = page.locator("main time").first
        assert "UTC" not in first_time.inner_text()
        assert page.locator("[data-tz-name]").inner_text().endswith("(America/New_York)")
    finally:
        page.context.close()


def test_a_days_bar_explains_itself_on_keyboard_focus(
    browser: Browser, server: LiveServer, busy_page: str
) -> None:
    page, messages = open_page(
        browser, f"{server.base_url}/{busy_page}", scheme="light", viewport=DESKTOP
    )
    try:
        today = page.locator("ol.bars").first.locator("li.bar").last
        tip = today.locator(".tip")
        assert not tip.is_visible()
        # Reach it with the keyboard, as a keyboard user would.
        for _ in range(400):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('bar')"):
                break
        else:
            raise AssertionError("no bar is reachable with Tab")
        today.focus()
        assert tip.is_visible()
        text = tip.inner_text()
        assert "Login errors" in text and "full outage" in text
        assert "% uptime" in text
        label = today.get_attribute("aria-label") or ""
        assert "Login errors (full outage)" in label
        page.screenshot(path=str(SCREENSHOTS / "bar-focus.png"))
        assert problems(messages) == []
    finally:
        page.context.close()


def test_a_quiet_days_bar_shows_its_figure_on_hover_and_focus(
    browser: Browser, server: LiveServer, busy_page: str
) -> None:
    page, messages = open_page(
        browser, f"{server.base_url}/{busy_page}", scheme="light", viewport=DESKTOP
    )
    try:
        # A covered day on which nothing happened: its tooltip is its label (CSS only).
        quiet = page.locator("li.bar.s-ok").first
        assert quiet.locator(".tip").count() == 0
        label = quiet.get_attribute("aria-label") or ""
        assert label.endswith("% uptime; no incidents")

        def tooltip() -> tuple[str, str]:
            shown: tuple[str, str] = tuple(  # type: ignore[assignment]
                quiet.evaluate(
                    "el => { const s = getComputedStyle(el, '::after');"
                    " return [s.display, s.content]; }"
                )
            )
            return shown

        assert tooltip()[0] == "none"
        quiet.hover()
        assert tooltip() == ("block", f'"{label}"')
        page.mouse.move(0, 0)
        assert tooltip()[0] == "none"
        quiet.focus()
        assert tooltip() == ("block", f'"{label}"')
        page.screenshot(path=str(SCREENSHOTS / "bar-quiet-focus.png"))
        assert problems(messages) == []
    finally:
        page.context.close()


def test_quiet_tooltips_at_the_edges_of_a_phone_stay_on_screen(
    browser: Browser, server: LiveServer, busy_page: str
) -> None:
    page, messages = open_page(
        browser, f"{server.base_url}/{busy_page}", scheme="dark", viewport=PHONE
    )
    try:
        row = page.locator("ol.bars").first.locator("li.bar")
        # Phones show the last 30 days: the first visible bar and the day before today.
        for index in (60, 88):
            bar = row.nth(index)
            assert bar.locator(".tip").count() == 0
            bar.focus()
            display, transform, left, width = bar.evaluate(
                "el => { const s = getComputedStyle(el, '::after');"
                " return [s.display, s.transform, parseFloat(s.left), parseFloat(s.width)]; }"
            )
            assert display == "block"
            # Anchored to the bar's own edge (not centred on it), so it opens inwards:
            # the tooltip's left edge on the page lies inside the viewport.
            assert transform == "none", index
            box = bar.bounding_box()
            assert box is not None
            assert box["x"] + left >= 0 and box["x"] + left + width <= PHONE["width"], index
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, index
        page.screenshot(path=str(SCREENSHOTS / "bar-quiet-phone.png"))
        assert problems(messages) == []
    finally:
        page.context.close()


def test_an_affected_group_starts_open_and_the_incident_page_opens_from_the_page(
    browser: Browser, server: LiveServer, busy_page: str
) -> None:
    page, messages = open_page(
        browser, f"{server.base_url}/{busy_page}", scheme="dark", viewport=PHONE
    )
    try:
        member = page.get_by_text("Frankfurt", exact=True)
        # The group is open because one of its members is affected; it folds and unfolds.
        assert member.is_visible()
        page.locator("summary").first.click()
        assert not member.is_visible()
        page.locator("summary").first.click()
        assert member.is_visible()
        page.get_by_role("link", name="Slow responses in Frankfurt").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text() == "Slow responses in Frankfurt"
        page.screenshot(path=str(SCREENSHOTS / "incident-dark-phone.png"), full_page=True)
        assert problems(messages) == []
    finally:
        page.context.close()


def test_hostile_markdown_does_not_execute_in_the_browser(
    browser: Browser, server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    marker = uuid.uuid4().hex[:8]
    hostile = (
        f"<script>window.pwned_{marker} = 1</script>\n\n"
        f'<img src=x onerror="window.pwned_{marker} = 2">\n\n'
        f"[click me](javascript:window.pwned_{marker}=3)\n\n"
        f'<a href="#" onclick="window.pwned_{marker}=4">raw</a>'
    )
    incident_id = publish(sdk, page.id, "Hostile", hostile, {})
    tab, _messages = open_page(
        browser,
        f"{server.base_url}/{page.slug}/incidents/{incident_id}",
        scheme="light",
        viewport=DESKTOP,
    )
    try:
        for link in tab.locator(".prose a").all():
            link.click(no_wait_after=True)
        assert tab.evaluate(f"typeof window.pwned_{marker}") == "undefined"
        assert tab.locator(".prose script, .prose img, .prose [onclick]").count() == 0
        assert f"window.pwned_{marker} = 1" in tab.locator(".prose").first.inner_text()
    finally:
        tab.context.close()
