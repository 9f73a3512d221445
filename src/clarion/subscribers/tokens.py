"""Signed tokens for links in e-mails and for the subscribe form (no login anywhere).

A token is ``<purpose>.<subject>.<issued, unix seconds>.<signature>`` where the signature is
HMAC-SHA256 (base64url, unpadded) over the first three parts with the instance's signing key.
The key is ``CLARION_SECRET_KEY``; when that is empty, a random key is generated on first use
and stored in the database (``instance_secrets``), so every replica signs alike and links stay
valid across restarts. Changing the key invalidates every outstanding link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from clarion.context import AppContext
from clarion.subscribers.models import InstanceSecret

SIGNING_KEY_NAME = "token_signing_key"
CONFIRM = "confirm"
MANAGE = "manage"
FORM = "form"


@dataclass(frozen=True)
class Token:
    purpose: str
    subject: str
    issued_at: int


async def signing_key(ctx: AppContext) -> bytes:
    """The HMAC key: the setting, else the stored one (created on first use)."""
    if ctx.settings.secret_key:
        return ctx.settings.secret_key.encode()
    if ctx.signing_key is not None:
        return ctx.signing_key
    async with ctx.signing_key_lock:
        if ctx.signing_key is None:
            ctx.signing_key = await _load_or_create(ctx)
        return ctx.signing_key


async def _load_or_create(ctx: AppContext) -> bytes:
    async with ctx.db.read() as session:
        stored = await session.get(InstanceSecret, SIGNING_KEY_NAME)
        value = stored.value if stored is not None else None
    if value is None:
        try:
            async with ctx.db.write() as session:
                session.add(
                    InstanceSecret(
                        name=SIGNING_KEY_NAME,
                        value=secrets.token_urlsafe(48),
                        created_at=ctx.clock.now(),
                    )
                )
        except IntegrityError:
            pass  # another process stored one first: use theirs
        async with ctx.db.read() as session:
            stored = await session.get(InstanceSecret, SIGNING_KEY_NAME)
            assert stored is not None
            value = stored.value
    return value.encode()


def _sign(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: bytes, purpose: str, subject: str, now: datetime) -> str:
    message = f"{purpose}.{subject}.{int(now.timestamp())}"
    return f"{message}.{_sign(key, message)}"


def read_token(
    key: bytes, token: str, purpose: str, now: datetime, max_age_seconds: int | None = None
) -> Token | None:
    """The token's contents when it is well-formed, signed with ``key``, for ``purpose``
    and (with ``max_age_seconds``) not older than that; otherwise ``None``."""
    parts = (token or "").split(".")
    if len(parts) != 4 or parts[0] != purpose:
        return None
    message = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(key, message), parts[3]):
        return None
    try:
        issued = int(parts[2])
    except ValueError:
        return None
    if max_age_seconds is not None and not 0 <= now.timestamp() - issued <= max_age_seconds:
        return None
    return Token(parts[0], parts[1], issued)
