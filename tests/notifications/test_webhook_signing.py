"""Standard Webhooks signatures, checked against the independent ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from clarion.notifications.signing import new_secret, secret_key, signature_headers, verify


def test_a_new_secret_is_whsec_and_the_base64_of_at_least_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    assert new_secret() != secret


def test_signatures_verify_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    body = '{"type":"incident.created","data":{"message":"caf\u00e9 \u2615"}}'.encode()
    headers = signature_headers(secret, "01JMSGID", int(time.time()), body)
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "incident.created"
    assert headers["webhook-signature"].startswith("v1,")


def test_a_tampered_body_or_another_secret_fails_verification() -> None:
    secret = new_secret()
    body = b'{"type":"incident.created"}'
    headers = signature_headers(secret, "01JMSGID", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"type":"incident.resolved"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_the_hand_written_verifier_agrees_with_the_library() -> None:
    secret = new_secret()
    now = int(time.time())
    body = b"{}"
    signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
    assert verify(secret, "msg_1", now, body, signature)
    assert not verify(secret, "msg_2", now, body, signature)


def test_a_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError):
        secret_key("whsec_not*base64")
