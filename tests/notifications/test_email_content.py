"""What incident and maintenance e-mails say, in both parts, over the real SMTP sink: name,
status, impact, components by name, times in the page's time zone (New York here), the
message, and the permalink; and never a raw timestamp."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

from clarion.notifications.email_content import format_moment, format_window, page_zone, time_html
from tests.harness import LiveServer
from tests.notifications.email_scenes import INCIDENT, LONG_COMPONENT, WINDOW, Story, story
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.smtp_sink import Received

__all__ = ["mail_server", "sink", "story"]

RAW_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
STARTED = "Fri 4 Dec 2026, 21:00 EST (UTC-05:00)"
WINDOW_TIMES = "Sun 6 Dec 2026, 02:00 to 04:30 EST (UTC-05:00)"


def visible(html: str) -> str:
    """The HTML part's text as a reader sees it, a line per row or paragraph: a table row
    reads ``Label: value`` (as in the text part), a line break is a new line."""
    body = html.split("<body", 1)[1].split(">", 1)[1]
    body = re.sub(r"</th>", ": ", body)
    body = re.sub(r"<br>|</tr>|</p>|</h1>|</li>", "\n", body)
    text = unescape(re.sub(r"<[^>]+>", "", body))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def both(mail: Received) -> tuple[str, str]:
    return mail.text, visible(mail.html)


def test_an_incident_e_mail_states_the_name_status_impact_components_and_time_in_the_page_s_zone(
    story: Story, mail_server: LiveServer
) -> None:
    mail = story.mails["incident.created"]
    permalink = f"{mail_server.base_url}/{story.slug}/incidents/{story.incident_id}"
    text, html = both(mail)
    assert mail.message["Subject"] == f"[Acme Cloud] Investigating: {INCIDENT}"
    assert text.startswith(
        f"{INCIDENT}\n\n"
        "Status: Investigating\n"
        "Impact: Full outage\n"
        f"Components: API (Full outage), {LONG_COMPONENT} (Degraded performance)\n"
        f"Started: {STARTED}\n\n"
        "Card payments time out for some customers. See our notes (https://example.com/notes/"
    )
    assert f"\n\nView this incident: {permalink}\n" in text
    assert (
        f"{INCIDENT}\n"
        "Status: Investigating\n"
        "Impact: Full outage\n"
        "Components: API (Full outage)\n"
        f"{LONG_COMPONENT} (Degraded performance)\n"
        f"Started: {STARTED}\n"
        "Card payments time out for some customers. See our notes.\n"
        "View this incident\n"
    ) in html
    assert f'<a href="{permalink}"' in mail.html
    assert "<strong>time out</strong>" in mail.html


def test_incident_updates_say_when_they_were_posted_and_what_the_components_are_now(
    story: Story,
) -> None:
    for part in both(story.mails["incident.updated"]):
        assert "Status: Identified\nImpact: Full outage\n" in part
        assert "API (Full outage)" in part  # its impact is still open
        assert f"Started: {STARTED}\nUpdated: Fri 4 Dec 2026, 21:25 EST (UTC-05:00)\n" in part
    # Resolved: the worst it was, said to be over; every component operational again.
    for part in both(story.mails["incident.resolved"]):
        assert "Status: Resolved\nImpact: Full outage (at worst; resolved)\n" in part
        assert f"{LONG_COMPONENT} (Operational)" in part
        assert f"Started: {STARTED}\nResolved: Fri 4 Dec 2026, 22:35 EST (UTC-05:00)\n" in part


def test_a_maintenance_e_mail_states_the_window_in_the_page_s_zone_and_links_to_the_window(
    story: Story, mail_server: LiveServer
) -> None:
    permalink = f"{mail_server.base_url}/{story.slug}/maintenance/{story.maintenance_id}"
    expected = {
        "maintenance.scheduled": ("Scheduled", "Under maintenance (during the window)", ""),
        "maintenance.updated": (
            "Scheduled",
            "Under maintenance (during the window)",
            "Updated: Sat 5 Dec 2026, 00:00 EST (UTC-05:00)\n",
        ),
        "maintenance.reminder": ("Scheduled", "Under maintenance (during the window)", ""),
        "maintenance.started": (
            "In progress",
            "Under maintenance",
            "Started: Sun 6 Dec 2026, 02:00 EST (UTC-05:00)\n",
        ),
        "maintenance.completed": (
            "Completed",
            "None (the window is over)",
            "Completed: Sun 6 Dec 2026, 04:30 EST (UTC-05:00)\n",
        ),
    }
    for kind, (status, impact, posted) in expected.items():
        mail = story.mails[kind]
        text, html = both(mail)
        assert (
            f"{WINDOW}\n\nStatus: {status}\nImpact: {impact}\n"
            f"Components: API, Dashboard\nWindow: {WINDOW_TIMES}\n{posted}\n"
        ) in text, kind
        assert f"\n\nView this maintenance window: {permalink}\n" in text, kind
        assert (
            f"{WINDOW}\nStatus: {status}\nImpact: {impact}\n"
            f"Components: API\nDashboard\nWindow: {WINDOW_TIMES}\n{posted}"
        ) in html, kind
        assert f'<a href="{permalink}"' in mail.html, kind
    reminder = story.mails["maintenance.reminder"]
    assert reminder.message["Subject"] == f"[Acme Cloud] Reminder: {WINDOW} starts soon"
    assert reminder.text.startswith(f"Reminder: this maintenance starts soon.\n\n{WINDOW}\n")
    assert f"Reminder: this maintenance starts soon\n{WINDOW}\n" in visible(reminder.html)
    assert "<strong>primary database</strong>" in story.mails["maintenance.scheduled"].html


def test_no_e_mail_shows_a_raw_timestamp_and_every_one_keeps_its_unsubscribe_links(
    story: Story, mail_server: LiveServer
) -> None:
    page = f"{mail_server.base_url}/{story.slug}"
    for kind, mail in story.mails.items():
        for part in (mail.text, mail.html):
            assert RAW_TIMESTAMP.search(part) is None, (kind, part)
            assert f"{page}/unsubscribe?token=" in part, kind
            assert f"{page}/preferences?token=" in part, kind
        assert mail.message["List-Unsubscribe"].startswith(f"<{page}/unsubscribe?token=")
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# -- times, without a server -----------------------------------------------------------------


def test_a_window_across_a_change_of_offset_names_both_offsets() -> None:
    berlin = page_zone("Europe/Berlin")
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, before clocks go back
    end = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, after
    assert format_window(start, end, berlin) == (
        "Sun 25 Oct 2026, 02:30 CEST (UTC+02:00) to Sun 25 Oct 2026, 02:30 CET (UTC+01:00)"
    )


def test_a_window_over_midnight_names_both_days() -> None:
    tokyo = page_zone("Asia/Tokyo")
    start = datetime(2026, 12, 31, 14, 0, tzinfo=UTC)
    end = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert format_window(start, end, tokyo) == (
        "Thu 31 Dec 2026, 23:00 to Fri 1 Jan 2027, 01:00 JST (UTC+09:00)"
    )


def test_zones_without_a_lettered_abbreviation_show_the_offset_and_utc_shows_utc() -> None:
    moment = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert (
        format_moment(moment, page_zone("America/Sao_Paulo")) == "Fri 4 Dec 2026, 23:00 UTC-03:00"
    )
    assert (
        format_moment(moment, page_zone("Asia/Kolkata")) == "Sat 5 Dec 2026, 07:30 IST (UTC+05:30)"
    )
    assert format_moment(moment, page_zone("Etc/UTC")) == "Sat 5 Dec 2026, 02:00 UTC"
    assert (
        format_moment(moment, page_zone("Europe/London")) == "Sat 5 Dec 2026, 02:00 GMT (UTC+00:00)"
    )
    # A zone this system does not know (the page was made elsewhere): UTC, not a crash.
    assert format_moment(moment, page_zone("Mars/Olympus_Mons")) == "Sat 5 Dec 2026, 02:00 UTC"


def test_times_in_html_stay_on_one_line_and_are_escaped() -> None:
    assert str(time_html("Sun 6 Dec 2026, 02:00 to 04:30 EST (UTC-05:00)")) == (
        'Sun 6 Dec 2026, <span style="white-space:nowrap">02:00</span> to '
        '<span style="white-space:nowrap">04:30 EST (UTC-05:00)</span>'
    )
    assert "<b>" not in str(time_html("<b>02:00</b>"))
