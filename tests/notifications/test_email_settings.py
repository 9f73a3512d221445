"""``CLARION_SMTP_URL`` parsing."""

from __future__ import annotations

import pytest

from clarion.notifications.email import SmtpTarget, parse_smtp_url


def test_smtp_urls_give_host_port_tls_mode_and_decoded_credentials() -> None:
    assert parse_smtp_url("smtp://mail.example.test") == SmtpTarget(
        "mail.example.test", 25, False, None, None, "opportunistic"
    )
    assert parse_smtp_url("smtp://relay:2525") == SmtpTarget(
        "relay", 2525, False, None, None, "opportunistic"
    )
    assert parse_smtp_url("smtps://u%40x:p%3Aw%2Fd@mail.example.test") == SmtpTarget(
        "mail.example.test", 465, True, "u@x", "p:w/d", "never"
    )


@pytest.mark.parametrize("url", ["http://mail.example.test", "smtp://", "mail.example.test:25"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_smtp_url(url)
