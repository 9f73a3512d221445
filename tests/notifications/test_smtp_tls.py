"""E-mail over TLS, end to end: an incident is published through the API, the outbox is
drained, and a real aiosmtpd server on loopback (with a certificate from a test CA) receives
the message - or the outbox row records why not.

Covered: implicit TLS (``smtps://``), STARTTLS with AUTH (the password only ever sent after
the upgrade), certificates from an untrusted CA or for another host name refused, the
``?starttls=`` choices against a server without STARTTLS, ``CLARION_SMTP_CA_FILE``, and the
password kept out of logs and outbox errors.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme

from clarion.notifications.email import parse_smtp_url
from tests.factories import make_page
from tests.harness import LiveServer, fresh_database, live_server
from tests.subscribers.helpers import add_subscribers, create_incident, drain, outbox_rows, sdk_for
from tests.subscribers.smtp_sink import Login, SmtpSink, smtp_sink

USER = "status@example.test"
PASSWORD = "p@ss:w/rd %+?#&é"  # every character that needs percent-encoding in a URL


def credentials_in_url(url: str, user: str = USER, password: str = PASSWORD) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    """A server-side TLS context with a certificate from ``ca`` for ``hosts``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@pytest.fixture(scope="module")
def loopback_tls(ca: trustme.CA) -> ssl.SSLContext:
    return server_context(ca, "127.0.0.1", "localhost")


@contextmanager
def clarion(tmp_path: Path, smtp_url: str, **settings: Any) -> Iterator[LiveServer]:
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(
            url, smtp_url=smtp_url, smtp_from="Status <status@example.test>", **settings
        ) as server,
    ):
        yield server


def publish_and_drain(server: LiveServer) -> tuple[str, Any]:
    """One subscriber, one incident, one drain: the subscriber's address and the outbox row."""
    page = make_page(server)
    [reader] = add_subscribers(server, page.id, 1)
    with sdk_for(server) as sdk:
        incident = create_incident(sdk, page.id, "Certificates")
    assert drain(server) == 1
    [row] = outbox_rows(server, subject_id=incident.id)
    return reader, row


def assert_delivered(row: Any, sink: SmtpSink, reader: str, *, over_tls: bool) -> None:
    assert row.status == "sent", row.last_error
    assert row.sent_at is not None
    [mail] = sink.to(reader)
    assert mail.over_tls is over_tls
    assert "Certificates" in str(mail.message["Subject"])


def assert_failed(row: Any, sink: SmtpSink, *phrases: str) -> None:
    """Recorded as a failure to retry, with ``phrases`` in the error; nothing was accepted."""
    assert row.status == "pending" and row.attempts == 1 and row.sent_at is None
    for phrase in phrases:
        assert phrase in (row.last_error or ""), row.last_error
    assert sink.count() == 0


def assert_password_kept_secret(caplog: pytest.LogCaptureFixture, *rows: Any) -> None:
    """Neither Clarion's log records nor outbox errors hold the password in any form the
    client handled (plain, percent-encoded, or as the AUTH PLAIN / LOGIN base64)."""
    forms = {
        PASSWORD,
        quote(PASSWORD, safe=""),
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(),
    }
    # aiosmtpd's own logger ("mail.log") is the server's, which is not Clarion's to keep clean.
    assert caplog.records, "nothing was captured: the check below would prove nothing"
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    formatter = logging.Formatter()
    texts = [formatter.format(r) for r in ours]  # the message with any traceback
    texts += [row.last_error or "" for row in rows]
    for text in texts:
        for form in forms:
            assert form not in text


# -- delivering over TLS ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
def test_mail_goes_over_verified_tls_and_the_password_only_inside_it(
    tmp_path: Path, ca_file: str, loopback_tls: ssl.SSLContext, mode: str
) -> None:
    # The STARTTLS server offers AUTH before the upgrade too (and refuses mail without one):
    # the client must upgrade first all the same.
    tls: dict[str, Any] = (
        {"implicit_tls": loopback_tls}
        if mode == "implicit"
        else {"starttls": loopback_tls, "require_starttls": True}
    )
    with (
        smtp_sink(credentials={USER: PASSWORD}, **tls) as sink,
        clarion(tmp_path, credentials_in_url(sink.url), smtp_ca_file=ca_file) as server,
    ):
        assert sink.url.startswith("smtps://" if mode == "implicit" else "smtp://")
        reader, row = publish_and_drain(server)
        assert_delivered(row, sink, reader, over_tls=True)
        assert sink.logins == [Login(USER, accepted=True, over_tls=True)]


def test_a_wrong_password_is_a_retried_failure_that_never_shows_the_password(
    tmp_path: Path, ca_file: str, loopback_tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        smtp_sink(starttls=loopback_tls, credentials={USER: "the right one"}) as sink,
        clarion(tmp_path, credentials_in_url(sink.url), smtp_ca_file=ca_file) as server,
    ):
        _, row = publish_and_drain(server)
        assert_failed(row, sink, "SMTP authentication failed (535)")
        assert sink.logins and all(not x.accepted and x.over_tls for x in sink.logins)
        assert_password_kept_secret(caplog, row)


# -- refusing servers that cannot be trusted -------------------------------------------------


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
def test_a_certificate_from_an_untrusted_ca_is_refused_before_the_password_is_sent(
    tmp_path: Path, loopback_tls: ssl.SSLContext, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    # No CLARION_SMTP_CA_FILE: the system trust store, which does not know the test CA.
    caplog.set_level(logging.DEBUG)
    tls = {"implicit_tls" if mode == "implicit" else "starttls": loopback_tls}
    with (
        smtp_sink(credentials={USER: PASSWORD}, **tls) as sink,
        clarion(tmp_path, credentials_in_url(sink.url)) as server,
    ):
        _, row = publish_and_drain(server)
        assert_failed(row, sink, "certificate not trusted", "unable to get local issuer")
        assert sink.logins == []
        assert_password_kept_secret(caplog, row)


@pytest.mark.parametrize(
    ("mode", "host", "mismatch"),
    [
        ("implicit", "127.0.0.1", "IP address mismatch"),
        ("starttls", "127.0.0.1", "IP address mismatch"),
        ("starttls", "localhost", "Hostname mismatch"),
    ],
)
def test_a_certificate_for_another_host_name_is_refused(
    tmp_path: Path, ca: trustme.CA, ca_file: str, mode: str, host: str, mismatch: str
) -> None:
    elsewhere = server_context(ca, "mail.example.test")
    tls = {"implicit_tls" if mode == "implicit" else "starttls": elsewhere}
    with smtp_sink(**tls) as sink:
        url = sink.url.replace("127.0.0.1", host)
        with clarion(tmp_path, url, smtp_ca_file=ca_file) as server:
            _, row = publish_and_drain(server)
            assert_failed(row, sink, "certificate not trusted", mismatch)


def test_a_private_ca_file_that_cannot_be_loaded_is_reported(
    tmp_path: Path, loopback_tls: ssl.SSLContext
) -> None:
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("not a certificate\n")
    with smtp_sink(starttls=loopback_tls) as sink:
        for ca_file, reason in [
            (str(tmp_path / "missing.pem"), "No such file or directory"),
            (str(not_pem), "NO_CERTIFICATE_OR_CRL_FOUND"),
        ]:
            with clarion(tmp_path, sink.url, smtp_ca_file=ca_file) as server:
                _, row = publish_and_drain(server)
                assert_failed(row, sink, "CLARION_SMTP_CA_FILE could not be loaded", reason)


# -- servers without STARTTLS ----------------------------------------------------------------


def test_plain_smtp_without_credentials_still_works_against_a_server_without_starttls(
    tmp_path: Path,
) -> None:
    with smtp_sink() as sink, clarion(tmp_path, sink.url) as server:
        reader, row = publish_and_drain(server)
        assert_delivered(row, sink, reader, over_tls=False)


def test_credentials_are_not_sent_in_clear_unless_the_url_allows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_sink(credentials={USER: PASSWORD}) as sink:
        with clarion(tmp_path, credentials_in_url(sink.url)) as server:
            _, row = publish_and_drain(server)
            assert_failed(row, sink, "does not offer STARTTLS", "the password was not sent")
            assert sink.logins == []
            assert_password_kept_secret(caplog, row)
        url = credentials_in_url(sink.url) + "?starttls=opportunistic"
        with clarion(tmp_path, url) as server:
            reader, row = publish_and_drain(server)
            assert_delivered(row, sink, reader, over_tls=False)
            assert sink.logins == [Login(USER, accepted=True, over_tls=False)]


def test_starttls_required_without_credentials_refuses_a_server_without_it(
    tmp_path: Path,
) -> None:
    with smtp_sink() as sink, clarion(tmp_path, sink.url + "?starttls=required") as server:
        _, row = publish_and_drain(server)
        assert_failed(row, sink, "does not offer STARTTLS")
        assert "password" not in (row.last_error or "")


def test_starttls_never_stays_in_clear_even_when_the_server_offers_it(
    tmp_path: Path, loopback_tls: ssl.SSLContext
) -> None:
    # No CA file: had the client tried STARTTLS, the certificate would have been refused.
    with (
        smtp_sink(starttls=loopback_tls) as sink,
        clarion(tmp_path, sink.url + "?starttls=never") as server,
    ):
        reader, row = publish_and_drain(server)
        assert_delivered(row, sink, reader, over_tls=False)


def test_opportunistic_starttls_upgrades_when_offered(
    tmp_path: Path, ca_file: str, loopback_tls: ssl.SSLContext
) -> None:
    with (
        smtp_sink(starttls=loopback_tls) as sink,
        clarion(tmp_path, sink.url, smtp_ca_file=ca_file) as server,
    ):
        reader, row = publish_and_drain(server)
        assert_delivered(row, sink, reader, over_tls=True)


# -- the URL ---------------------------------------------------------------------------------


def test_starttls_defaults_to_required_with_credentials_and_can_be_chosen() -> None:
    assert parse_smtp_url("smtp://relay").starttls == "opportunistic"
    assert parse_smtp_url("smtp://u:p@relay").starttls == "required"
    assert parse_smtp_url("smtp://u@relay").starttls == "required"
    assert parse_smtp_url("smtp://u:p@relay?starttls=opportunistic").starttls == "opportunistic"
    assert parse_smtp_url("smtp://relay?starttls=required").starttls == "required"
    assert parse_smtp_url("smtp://relay:2525?starttls=never").starttls == "never"
    assert parse_smtp_url("smtps://u:p@relay").starttls == "never"


@pytest.mark.parametrize(
    "url",
    [
        "smtp://relay?starttls=maybe",
        "smtp://relay?startls=required",
        "smtps://relay?starttls=required",
    ],
)
def test_bad_starttls_options_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="CLARION_SMTP_URL"):
        parse_smtp_url(url)


def test_url_errors_and_the_parsed_target_never_show_the_password() -> None:
    # An unencoded "/" in the password ends the host part: the rest looks like a bad port.
    with pytest.raises(ValueError) as raised:
        parse_smtp_url("smtp://user:secret99/x@relay")
    assert "secret99" not in str(raised.value)
    target = parse_smtp_url(credentials_in_url("smtps://relay"))
    assert target.password == PASSWORD and target.username == USER
    assert PASSWORD not in repr(target) and quote(PASSWORD, safe="") not in repr(target)
