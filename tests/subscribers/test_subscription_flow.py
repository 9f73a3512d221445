"""Double opt-in over HTTP with a real SMTP server: nothing before confirming, then updates."""

from __future__ import annotations

import uuid

import httpx

from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import (
    confirm,
    confirmation_link,
    create_incident,
    drain,
    sdk_for,
    subscribe,
)
from tests.subscribers.smtp_sink import SmtpSink


def address() -> str:
    return f"reader-{uuid.uuid4().hex[:8]}@example.test"


def test_a_reader_gets_a_confirmation_first_and_incident_mail_only_after_confirming(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    reader = address()
    answer = subscribe(http, page.slug, reader)
    assert answer.status_code == 200
    assert "Check your inbox" in answer.text

    drain(mail_server)
    mails = sink.to(reader)
    assert len(mails) == 1
    assert mails[0].message["Subject"].startswith("Confirm your subscription")

    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "Before confirming")
        drain(mail_server)
        assert len(sink.to(reader)) == 1  # nothing but the confirmation

        done = confirm(http, mails[0])
        assert done.status_code == 200
        assert "You are subscribed" in done.text

        create_incident(sdk, page.id, "Database failover", "We are **failing over**.")
        drain(mail_server)
    mails = sink.to(reader)
    assert len(mails) == 2
    incident_mail = mails[1]
    assert "Database failover" in incident_mail.message["Subject"]
    assert "Before confirming" not in incident_mail.text
    assert "<strong>failing over</strong>" in incident_mail.html
    assert "failing over" in incident_mail.text
    assert "**" not in incident_mail.text


def test_every_mail_carries_one_click_unsubscribe_headers_and_a_preferences_link(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    reader = address()
    subscribe(http, page.slug, reader)
    drain(mail_server)
    confirm(http, sink.to(reader)[0])
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "Queue backlog")
    drain(mail_server)
    for mail in sink.to(reader):
        header = mail.message["List-Unsubscribe"]
        assert header.startswith(f"<{mail_server.base_url}/{page.slug}/unsubscribe?token=")
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"/{page.slug}/preferences?token=" in mail.text
        assert f"/{page.slug}/preferences?token=" in mail.html
        assert f"/{page.slug}/unsubscribe?token=" in mail.html
        assert mail.message.get_body(preferencelist=("plain",)) is not None
        assert mail.message.get_body(preferencelist=("html",)) is not None


def test_one_click_unsubscribe_by_post_stops_further_mail(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    reader = address()
    subscribe(http, page.slug, reader)
    drain(mail_server)
    confirm(http, sink.to(reader)[0])
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "First")
        drain(mail_server)
        mail = sink.to(reader)[-1]
        url = mail.message["List-Unsubscribe"].strip("<>")
        # RFC 8058: the mail client posts this body, with no cookies and no other token.
        with httpx.Client(timeout=30) as bare:
            answer = bare.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        assert answer.status_code == 200
        assert "unsubscribed" in answer.text
        create_incident(sdk, page.id, "Second")
        drain(mail_server)
    assert [m.message["Subject"] for m in sink.to(reader)][-1].endswith("First")


def test_the_unsubscribe_link_shows_a_page_and_its_button_unsubscribes(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    reader = address()
    subscribe(http, page.slug, reader)
    drain(mail_server)
    confirm(http, sink.to(reader)[0])
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "One")
        drain(mail_server)
        link = sink.to(reader)[-1].message["List-Unsubscribe"].strip("<>")
        shown = http.get(link)
        assert shown.status_code == 200
        assert "Unsubscribe" in shown.text and reader in shown.text
        assert len(sink.to(reader)) == 2  # showing the page changed nothing
        create_incident(sdk, page.id, "Two")
        drain(mail_server)
        assert len(sink.to(reader)) == 3
        assert http.post(link).status_code == 200
        create_incident(sdk, page.id, "Three")
        drain(mail_server)
    assert len(sink.to(reader)) == 3


def test_subscribing_a_known_address_answers_exactly_as_for_a_new_one(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    known = address()
    subscribe(http, page.slug, known)
    drain(mail_server)
    confirm(http, sink.to(known)[0])
    again = subscribe(http, page.slug, known)
    fresh = subscribe(http, page.slug, address())
    assert again.status_code == fresh.status_code == 200
    assert again.text.replace(known, "X") == fresh.text.replace(
        fresh.text.split("If ", 1)[1].split(" can", 1)[0], "X"
    )
    drain(mail_server)
    assert len(sink.to(known)) == 1  # a confirmed address gets no new confirmation


def test_confirmation_mails_per_address_are_capped(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    target = address()
    for _ in range(6):
        assert subscribe(http, page.slug, target).status_code == 200
    drain(mail_server)
    assert len(sink.to(target)) == mail_server.settings.subscribe_confirmations_per_day


def test_a_forged_or_tampered_token_is_refused(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    reader = address()
    subscribe(http, page.slug, reader)
    drain(mail_server)
    link = confirmation_link(sink.to(reader)[0])
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert http.get(tampered).status_code == 400
    assert http.post(tampered).status_code == 400
    other = make_page(mail_server)
    assert http.post(link.replace(f"/{page.slug}/", f"/{other.slug}/")).status_code == 400


def test_a_cross_site_post_or_one_without_the_form_token_subscribes_no_one(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    victim = address()
    no_token = http.post(f"/{page.slug}/subscribe", data={"email": victim})
    assert no_token.status_code == 403
    form = http.get(f"/{page.slug}/subscribe").text
    token = form.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    cross = http.post(
        f"/{page.slug}/subscribe",
        data={"email": victim, "form_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    drain(mail_server)
    assert sink.to(victim) == []


def test_an_invalid_address_shows_the_form_again_with_an_error(
    mail_server: LiveServer, http: httpx.Client
) -> None:
    page = make_page(mail_server)
    answer = subscribe(http, page.slug, "not-an-address")
    assert answer.status_code == 400
    assert "valid e-mail address" in answer.text
    assert http.get("/no-such-page-anywhere/subscribe").status_code == 404


def test_simultaneous_requests_for_one_address_all_get_the_same_answer_and_one_subscription(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    page = make_page(mail_server)
    reader = address()
    form = http.get(f"/{page.slug}/subscribe").text
    token = form.split('name="form_token" value="', 1)[1].split('"', 1)[0]

    def post(_: int) -> int:
        with httpx.Client(base_url=mail_server.base_url, timeout=30) as client:
            answer = client.post(
                f"/{page.slug}/subscribe", data={"email": reader, "form_token": token}
            )
            return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(8)))
    assert codes == [200] * 8
    drain(mail_server)
    assert 1 <= len(sink.to(reader)) <= mail_server.settings.subscribe_confirmations_per_day


def test_the_forms_also_answer_on_a_pages_custom_domain(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    from sqlalchemy import update

    from clarion.context import AppContext
    from clarion.status_pages.models import StatusPage

    page = make_page(mail_server)
    domain = f"status-{page.slug}.example.test"

    async def set_domain(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await session.execute(
                update(StatusPage).where(StatusPage.id == page.id).values(custom_domain=domain)
            )

    mail_server.call(set_domain)
    form = http.get("/subscribe", headers={"Host": domain})
    assert form.status_code == 200
    assert 'action="/subscribe"' in form.text
    token = form.text.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    reader = address()
    answer = http.post(
        "/subscribe", data={"email": reader, "form_token": token}, headers={"Host": domain}
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    drain(mail_server)
    assert len(sink.to(reader)) == 1
    assert http.get("/subscribe", headers={"Host": "unknown.example.test"}).status_code == 404
