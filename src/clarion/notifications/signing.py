"""Standard Webhooks signing (https://www.standardwebhooks.com/).

A secret is ``whsec_`` followed by the base64 of random bytes; the key is those bytes. The
signature of a message is ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
sent in ``webhook-signature`` next to ``webhook-id`` and ``webhook-timestamp`` (unix seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, ``whsec_<base64 of 32 random bytes>``."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret`` (with or without the ``whsec_`` prefix).

    Raises ``ValueError`` when the rest is not base64.
    """
    encoded = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 signature>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secret: str, message_id: str, timestamp: int, body: bytes, *also: str
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt. Secrets in ``also`` (a
    rotated-out secret still in its grace period) add their signatures, space-separated, as
    the specification allows, so receivers holding either secret verify the message."""
    signatures = [sign(s, message_id, timestamp, body) for s in (secret, *also)]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def verify(
    secret: str, message_id: str, timestamp: int, body: bytes, signature_header: str
) -> bool:
    """Whether any ``v1`` signature in ``signature_header`` (space-separated) matches.

    Does not check the timestamp's age; receivers should (Standard Webhooks: 5 minutes).
    """
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(candidate, expected) for candidate in signature_header.split())
