"""The anonymous subscribe form cannot be used to send mail for anyone: budgets per mailbox, per
client, per form and in all, and addresses checked before anything is stored or sent. Driven
over HTTP against a real SMTP sink; clients are told apart by ``X-Forwarded-For`` (the test
client is the trusted proxy)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import select

from clarion.context import AppContext
from clarion.subscribers.models import Subscription
from clarion.subscribers.proof import solved
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer, fresh_database, live_server
from tests.subscribers.helpers import drain
from tests.subscribers.smtp_sink import SmtpSink, smtp_sink

_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
#: Budgets large enough to stay out of the way of the one a test is about.
ROOMY = {
    "subscribe_addresses_per_form": 1000,
    "subscribe_per_client_per_hour": 1000,
    "subscribe_per_hour": 1000,
    "subscribe_per_mailbox_per_day": 1000,
}


@contextmanager
def form_server(
    sink: SmtpSink, tmp_path: Path, pages: int = 1, **settings: Any
) -> Iterator[tuple[LiveServer, list[PageInfo]]]:
    """A Clarion sending to ``sink`` with ``settings`` (other budgets roomy), and ``pages``
    fresh pages."""
    values: dict[str, Any] = {**ROOMY, **settings}
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(
            url, smtp_url=sink.url, smtp_from="Status <status@example.com>", **values
        ) as srv,
    ):
        yield srv, [make_page(srv, components=1) for _ in range(pages)]


def form_token(http: httpx.Client, slug: str, client: str = "198.51.100.1") -> str:
    form = http.get(f"/{slug}/subscribe", headers={"X-Forwarded-For": client})
    assert form.status_code == 200, form.text
    found = _FORM_TOKEN.search(form.text)
    assert found is not None
    return found.group(1)


def post(
    http: httpx.Client, slug: str, email: str, token: str, client: str = "198.51.100.1"
) -> httpx.Response:
    return http.post(
        f"/{slug}/subscribe",
        data={"form_token": token, "email": email},
        headers={"X-Forwarded-For": client},
    )


def subscribe(
    http: httpx.Client, slug: str, email: str, client: str = "198.51.100.1"
) -> httpx.Response:
    return post(http, slug, email, form_token(http, slug, client), client)


def mails_to_domain(sink: SmtpSink, domain: str) -> int:
    return sum(1 for r in sink.received if any(a.endswith("@" + domain) for a in r.rcpt_to))


def stored(server: LiveServer) -> list[str]:
    async def body(ctx: AppContext) -> list[str]:
        async with ctx.db.read() as session:
            return list(await session.scalars(select(Subscription.email)))

    return server.call(body)


def test_spellings_of_one_mailbox_on_many_pages_get_at_most_its_daily_budget(
    sink: SmtpSink, tmp_path: Path
) -> None:
    with form_server(sink, tmp_path, subscribe_per_mailbox_per_day=3, pages=3) as (server, pages):
        name = f"victim{uuid.uuid4().hex[:6]}"
        spellings = [f"{name}+{i}@gmail.com" for i in range(6)] + [
            f"{name[:3]}.{name[3:]}+x@googlemail.com",
            f"{name.upper()}@GMAIL.com",
        ]
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for index, email in enumerate(spellings):
                answer = subscribe(http, pages[index % 3].slug, email, f"203.0.113.{index}")
                # The same answer whether or not the mailbox is over its budget.
                assert answer.status_code == 200, answer.text
                assert "Check your inbox" in answer.text
        drain(server)
        assert mails_to_domain(sink, "gmail.com") + mails_to_domain(sink, "googlemail.com") == 3

        # A day later the mailbox may ask again.
        server.clock.offset += timedelta(days=1, minutes=1)
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            assert subscribe(http, pages[0].slug, f"{name}+later@gmail.com").status_code == 200
        drain(server)
        assert mails_to_domain(sink, "gmail.com") + mails_to_domain(sink, "googlemail.com") == 4


def test_one_client_gets_its_hourly_budget_and_others_are_not_held_up(
    sink: SmtpSink, tmp_path: Path
) -> None:
    domain = f"c{uuid.uuid4().hex[:6]}.example.com"
    with form_server(sink, tmp_path, subscribe_per_client_per_hour=4) as (server, [page]):
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            answers = [
                subscribe(http, page.slug, f"reader{i}@{domain}", "198.51.100.7").status_code
                for i in range(7)
            ]
            assert answers == [200] * 4 + [429] * 3
            refused = subscribe(http, page.slug, f"late@{domain}", "198.51.100.7")
            assert "Try again in an hour" in refused.text
            # Another client (an IPv6 /64 counts as one) is not affected.
            assert (
                subscribe(http, page.slug, f"other@{domain}", "2001:db8:1:2::5").status_code == 200
            )
            server.clock.offset += timedelta(hours=1)
            assert subscribe(http, page.slug, f"hour@{domain}", "198.51.100.7").status_code == 200
        drain(server)
        assert mails_to_domain(sink, domain) == 6


def test_a_form_token_serves_a_few_addresses_only(sink: SmtpSink, tmp_path: Path) -> None:
    domain = f"f{uuid.uuid4().hex[:6]}.example.com"
    with form_server(sink, tmp_path, subscribe_addresses_per_form=2) as (server, [page]):
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            token = form_token(http, page.slug)
            emails = [f"reader{i}@{domain}" for i in (0, 0, 1, 2, 3, 4)]
            answers = [post(http, page.slug, email, token).status_code for email in emails]
            # Sending one address again (a double click) is not another address.
            assert answers == [200, 200, 200, 403, 403, 403]
            assert "Reload it" in post(http, page.slug, f"again@{domain}", token).text
            # A reloaded form has a token of its own.
            assert subscribe(http, page.slug, f"fresh@{domain}").status_code == 200
        drain(server)
        assert mails_to_domain(sink, domain) == 4  # reader0 asked twice


def test_the_whole_instance_has_an_hourly_budget(sink: SmtpSink, tmp_path: Path) -> None:
    domain = f"g{uuid.uuid4().hex[:6]}.example.com"
    with form_server(sink, tmp_path, subscribe_per_hour=3, pages=2) as (server, pages):
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            answers = [
                subscribe(http, pages[i % 2].slug, f"r{i}@{domain}", f"192.0.2.{i}")
                for i in range(5)
            ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert "too many subscription requests" in answers[-1].text
        drain(server)
        assert mails_to_domain(sink, domain) == 3


def test_addresses_are_checked_before_anything_is_stored_or_sent(
    sink: SmtpSink, tmp_path: Path
) -> None:
    with form_server(sink, tmp_path) as (server, [page]):
        refused = {
            "nul\x00@example.com": "U+0000",
            "esc\x1b[31m@example.com": "invalid characters",
            "tab\there@example.com": "invalid characters",
            "müller@example.com": "Internationalized characters",
            "someone@example.invalid": "special-use or reserved",
            "someone@example.test": "special-use or reserved",
            "two@@example.com": "valid e-mail address",
            '"quoted"@example.com': "valid e-mail address",
            "a" * 330 + "@example.com": "at most 320",
        }
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for email, words in refused.items():
                answer = subscribe(http, page.slug, email)
                assert answer.status_code == 400, email
                assert "valid e-mail address" in answer.text, email
                assert words in answer.text, (email, answer.text)
                assert "\x00" not in answer.text and "\x1b" not in answer.text
            accepted = subscribe(http, page.slug, "Reader@Bücher.example.com")
            assert accepted.status_code == 200, accepted.text
        drain(server)
        # Stored and sent in ASCII: the relay is not known to speak SMTPUTF8.
        assert stored(server) == ["reader@xn--bcher-kva.example.com"]
        assert len(sink.to("reader@xn--bcher-kva.example.com")) == 1


def test_non_ascii_mailbox_names_are_accepted_and_sent_when_the_relay_speaks_smtputf8(
    tmp_path: Path,
) -> None:
    with (
        smtp_sink(smtputf8=True) as utf8_sink,
        form_server(utf8_sink, tmp_path, smtp_utf8=True) as (server, [page]),
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        answer = subscribe(http, page.slug, "Müller@Bücher.example.com")
        assert answer.status_code == 200, answer.text
        assert stored(server) == ["müller@xn--bcher-kva.example.com"]
        drain(server)
        [mail] = utf8_sink.to("müller@xn--bcher-kva.example.com")
        assert mail.message["To"] == "müller@xn--bcher-kva.example.com"
        assert "Confirm your subscription" in str(mail.message["Subject"])


def solve(token: str, bits: int) -> str:
    return next(str(n) for n in itertools.count() if solved(token, str(n), bits))


def test_with_a_proof_of_work_the_form_is_sent_only_with_a_solution(
    sink: SmtpSink, tmp_path: Path
) -> None:
    domain = f"p{uuid.uuid4().hex[:6]}.example.com"
    with form_server(sink, tmp_path, subscribe_proof_of_work_bits=10) as (server, [page]):
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            form = http.get(f"/{page.slug}/subscribe")
            assert 'data-pow-bits="10"' in form.text and "subscribe.js" in form.text
            assert "script-src 'self'" in form.headers["content-security-policy"]
            token = form_token(http, page.slug)
            data = {"form_token": token, "email": f"a@{domain}"}
            for answer in ("", "0x10", "1" * 13, str(int(solve(token, 10)) + 1)):
                if answer and solved(token, answer, 10):
                    continue
                refused = http.post(f"/{page.slug}/subscribe", data={**data, "proof": answer})
                assert refused.status_code == 400
                assert "short check" in refused.text
            sent = http.post(f"/{page.slug}/subscribe", data={**data, "proof": solve(token, 10)})
            assert sent.status_code == 200, sent.text
        drain(server)
        assert mails_to_domain(sink, domain) == 1


def test_without_the_setting_the_form_loads_no_script(sink: SmtpSink, tmp_path: Path) -> None:
    with form_server(sink, tmp_path) as (server, [page]):
        form = httpx.get(f"{server.base_url}/{page.slug}/subscribe", timeout=30)
        assert "<script" not in form.text and "data-pow-bits" not in form.text
        assert "script-src" not in form.headers["content-security-policy"]


@pytest.mark.browser
def test_a_browser_solves_the_proof_of_work_and_subscribes(
    browser: Browser, sink: SmtpSink, tmp_path: Path
) -> None:
    reader = f"pow-{uuid.uuid4().hex[:8]}@example.com"
    with form_server(sink, tmp_path, subscribe_proof_of_work_bits=12) as (server, [page]):
        tab = browser.new_page()
        problems: list[str] = []
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.goto(f"{server.base_url}/{page.slug}/subscribe")
        tab.fill("#email", reader)
        tab.click("button[type=submit]")
        tab.wait_for_selector("h1:has-text('Check your inbox')", timeout=60_000)
        assert problems == []
        tab.close()
        drain(server)
        assert len(sink.to(reader)) == 1
