"""The public page in Debian's Chromium (Playwright): themes, widths, keyboard, console."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from incident_io import AuthenticatedClient
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.browser import (
    DESKTOP,
    PHONE,
    SCHEMES,
    WIDTHS,
    accessible_focus,
    axe_violations,
    describe,
)
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
    browser: Browser, url: str, *, scheme: str, viewport: dict[str, int], script: bool = True
) -> tuple[Page, list[str]]:
    context = browser.new_context(
        color_scheme=scheme,  # type: ignore[arg-type]
        viewport=viewport,  # type: ignore[arg-type]
        timezone_id="America/New_York",
        java_script_enabled=script,
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


#: Presses of Tab from the top of the busy page to "Incident history": 13 (the skip link, the
#: page's name, the header's two links, the ongoing incident, the group's summary, five uptime
#: bars, the resolved incident, then the link itself), with a little room; a bar's 90 days as
#: 90 stops would make it 458.
MOST_TAB_STOPS = 15


#: What has focus: a day of an uptime bar as ``day of <its row>``, anything else by its text.
FOCUSED = """() => { const el = document.activeElement;
    const row = el.closest('[role=listbox]');
    return row ? 'day of ' + row.getAttribute('aria-label')
               : (el.textContent || '').trim().slice(0, 60); }"""


def tab_to(page: Page, name: str, limit: int = 100) -> list[str]:
    """Press Tab from the top of the page until the link called ``name`` has focus; returns
    what had focus on the way (a day of an uptime bar as ``day of <its row>``)."""
    page.locator("body").focus()
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(FOCUSED))
        if seen[-1] == name:
            return seen
    raise AssertionError(f"{name!r} not reached in {limit} presses of Tab: {seen}")


@pytest.mark.parametrize("script", [True, False], ids=["with-js", "without-js"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_tab_reaches_incident_history_in_a_few_presses_each_uptime_bar_one_stop(
    browser: Browser, server: LiveServer, busy_page: str, width: str, script: bool
) -> None:
    url = f"{server.base_url}/{busy_page}"
    page, messages = open_page(browser, url, scheme="light", viewport=WIDTHS[width], script=script)
    try:
        seen = tab_to(page, "Incident history")
        rows = page.locator("ol.bars").count()
        assert rows == 5
        days = [s for s in seen if s.startswith("day of ")]
        assert len(days) == rows and len(set(days)) == rows, seen
        assert len(seen) <= MOST_TAB_STOPS, seen
        # Back with Shift+Tab: the same stops, in reverse.
        for before in reversed(seen[:-1]):
            page.keyboard.press("Shift+Tab")
            assert page.evaluate(FOCUSED) == before
        assert problems(messages) == []
    finally:
        page.context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_arrow_keys_move_between_days_and_the_focused_day_is_announced(
    browser: Browser, server: LiveServer, busy_page: str, scheme: str, width: str
) -> None:
    url = f"{server.base_url}/{busy_page}"
    page, messages = open_page(browser, url, scheme=scheme, viewport=WIDTHS[width])
    try:
        seen = tab_to(page, "day of Public API: uptime over the last 90 days")
        assert seen[-1].startswith("day of Public API")
        row = page.locator("ol.bars").first
        today = accessible_focus(page)
        # What a screen reader is told: a day of a listbox, named by its date, uptime and
        # incidents, and selected.
        assert today["role"] == "option" and today["container"] == "listbox"
        assert today["container_name"] == "Public API: uptime over the last 90 days"
        assert today["selected"] == "True"
        assert "Login errors (full outage)" in today["name"] and "% uptime" in today["name"]
        tip = row.locator("li.bar").last.locator(".tip")
        assert tip.is_visible() and "Login errors" in tip.inner_text()
        # The tooltip shown is part of the page axe checks, in this theme and width.
        assert describe(axe_violations(page)) == []

        page.keyboard.press("ArrowLeft")
        yesterday = accessible_focus(page)
        assert yesterday["role"] == "option" and yesterday["selected"] == "True"
        assert yesterday["name"] != today["name"]
        assert yesterday["name"].endswith("no incidents") or "no data" in yesterday["name"]
        assert not tip.is_visible()
        # One tab stop per row, wherever it has moved to.
        assert row.locator("[tabindex='0']").count() == 1
        assert row.locator("[aria-selected='true']").count() == 1
        assert row.locator("[tabindex='0']").get_attribute("aria-label") == yesterday["name"]

        page.keyboard.press("Home")
        first = accessible_focus(page)
        shown = 90 if width == "desktop" else 30
        first_shown = row.locator("li.bar").nth(90 - shown).get_attribute("aria-label")
        assert first["name"] == first_shown
        page.keyboard.press("ArrowLeft")  # already at the first day shown: stays
        assert accessible_focus(page)["name"] == first_shown
        page.keyboard.press("ArrowRight")
        assert accessible_focus(page)["name"] == row.locator("li.bar").nth(
            91 - shown
        ).get_attribute("aria-label")
        page.keyboard.press("End")
        assert accessible_focus(page)["name"] == today["name"]
        page.keyboard.press("ArrowRight")  # already at today: stays
        assert accessible_focus(page)["name"] == today["name"]

        # Leaving and coming back lands on the day last chosen.
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Tab")
        page.keyboard.press("Shift+Tab")
        assert accessible_focus(page)["name"] == yesterday["name"]
        page.screenshot(path=str(SCREENSHOTS / f"bar-keys-{scheme}-{width}.png"))
        assert problems(messages) == []
    finally:
        page.context.close()


def test_a_day_clicked_becomes_the_rows_tab_stop(
    browser: Browser, server: LiveServer, busy_page: str
) -> None:
    page, messages = open_page(
        browser, f"{server.base_url}/{busy_page}", scheme="light", viewport=DESKTOP
    )
    try:
        row = page.locator("ol.bars").first
        day = row.locator("li.bar").nth(80)
        day.click()
        assert day.get_attribute("tabindex") == "0"
        assert day.get_attribute("aria-selected") == "true"
        assert row.locator("[tabindex='0']").count() == 1
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
