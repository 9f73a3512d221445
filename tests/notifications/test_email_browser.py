"""The HTML part of every kind of notification e-mail in Debian's Chromium (Playwright): at a
phone's width and a desktop's, with its styles and with every style stripped (as some clients
do). Screenshots go to the test's temporary directory."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from tests.harness import LiveServer
from tests.notifications.email_scenes import INCIDENT, LONG_COMPONENT, WINDOW, Story, story
from tests.subscribers.fixtures import mail_server, sink

__all__ = ["mail_server", "sink", "story"]

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
KINDS = (
    "incident.created",
    "incident.updated",
    "incident.resolved",
    "maintenance.scheduled",
    "maintenance.updated",
    "maintenance.reminder",
    "maintenance.started",
    "maintenance.completed",
    "subscription.confirm",
)
RAW_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")

#: Every element with its own text whose colour against the first opaque background behind it
#: falls short of WCAG AA (4.5:1; 3:1 for large text), as ``[text, ratio]`` pairs.
LOW_CONTRAST = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) found.push([el.textContent.trim().slice(0, 40), ratio]);
  }
  return found;
}
"""


def _open(browser: Browser, html: str, viewport: dict[str, int]) -> Page:
    tab = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    # Nothing is fetched: the e-mail must stand on its own (no images, fonts or scripts).
    tab.route("**/*", lambda route: route.abort())
    tab.set_content(html, wait_until="load")
    return tab


def _no_horizontal_scroll(tab: Page) -> None:
    widths = tab.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"scrolls sideways: {widths}"


def _hrefs(tab: Page) -> dict[str, str]:
    """Link text -> target, for every visible link."""
    return {
        a.inner_text().strip(): str(a.get_attribute("href"))
        for a in tab.locator("a").all()
        if a.is_visible()
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_e_mail_reads_well_at_a_phone_s_width_and_on_a_desktop(
    browser: Browser,
    story: Story,
    mail_server: LiveServer,
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
) -> None:
    mail = story.mails[kind]
    shots = tmp_path_factory.getbasetemp() / "email-screenshots"
    shots.mkdir(exist_ok=True)
    page_url = f"{mail_server.base_url}/{story.slug}"
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        tab = _open(browser, mail.html, viewport)
        try:
            tab.screenshot(path=str(shots / f"{kind}-{label}.png"), full_page=True)
            _no_horizontal_scroll(tab)
            assert tab.evaluate(LOW_CONTRAST) == []
            text = tab.inner_text("body")
            assert RAW_TIMESTAMP.search(text) is None, text
            links = _hrefs(tab)
            assert links["Acme Cloud"] == page_url
            assert links["Change preferences"].startswith(f"{page_url}/preferences?token=")
            assert links["Unsubscribe"].startswith(f"{page_url}/unsubscribe?token=")
            if kind == "subscription.confirm":
                assert tab.get_by_role("heading", level=1).inner_text() == (
                    "Confirm your subscription"
                )
                assert links["Confirm subscription"].startswith(f"{page_url}/subscribe/confirm?")
                continue
            heading = tab.get_by_role("heading", level=1)
            assert heading.is_visible()
            if kind.startswith("incident."):
                assert heading.inner_text() == INCIDENT
                assert links["View this incident"] == f"{page_url}/incidents/{story.incident_id}"
                assert "Full outage" in text
                assert LONG_COMPONENT in text
                assert "EST (UTC-05:00)" in text
            else:
                assert heading.inner_text() == WINDOW
                assert links["View this maintenance window"] == (
                    f"{page_url}/maintenance/{story.maintenance_id}"
                )
                assert "Sun 6 Dec 2026, 02:00 to 04:30 EST (UTC-05:00)" in text
                assert "Under maintenance" in text or "window is over" in text
            # The facts are a table whose row headers name them (read out by screen readers).
            for fact in ("Status", "Impact"):
                assert tab.get_by_role("rowheader", name=fact).is_visible()
        finally:
            tab.close()


@pytest.mark.parametrize("kind", ["incident.created", "maintenance.scheduled"])
def test_without_any_style_the_e_mail_still_says_everything(
    browser: Browser, story: Story, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    mail = story.mails[kind]
    stripped = re.sub(r'\sstyle="[^"]*"', "", mail.html)
    shots = tmp_path_factory.getbasetemp() / "email-screenshots"
    shots.mkdir(exist_ok=True)
    tab = _open(browser, stripped, PHONE)
    try:
        tab.screenshot(path=str(shots / f"{kind}-unstyled.png"), full_page=True)
        text = tab.inner_text("body")
        for words in ("Status", "Impact", "Unsubscribe", "Change preferences"):
            assert words in text
        assert ("View this incident" if kind.startswith("incident.") else "Window") in text
    finally:
        tab.close()
