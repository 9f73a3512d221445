"""Creating, listing, revoking and checking API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.api_keys.models import ApiKey
from clarion.api_keys.roles import CONFIGURE_ROLE as CONFIGURE_ROLE
from clarion.api_keys.roles import PUBLISH_ROLE as PUBLISH_ROLE
from clarion.api_keys.roles import ROLES as ROLES
from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.errors import NotFound
from clarion.ids import new_id

TOKEN_PREFIX = "clarion_"  # noqa: S105 - a public prefix, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The API key a request was made with."""

    id: str
    name: str
    roles: tuple[str, ...]

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def actor(self) -> Actor:
        """Who writes through this key (the audit log names the key)."""
        return Actor.api_key(self.id, self.name)


async def create_key(
    session: AsyncSession, name: str, roles: list[str], now: datetime, *, actor: Actor
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the token, which is never stored or shown again."""
    token = _new_token()
    key = ApiKey(
        id=new_id(),
        name=name,
        token_hash=hash_token(token),
        token_hint=_hint(token),
        roles=sorted(set(roles)),
        created_at=now,
        revoked_at=None,
    )
    session.add(key)
    audit.record(
        session,
        actor,
        "api_key.create",
        object_type="api_key",
        object_id=key.id,
        at=now,
        summary=f"created API key {name!r} ({', '.join(key.roles)})",
        detail={"name": name, "roles": key.roles},
    )
    await session.flush()
    return key, token


async def renew_named_key(
    session: AsyncSession, name: str, roles: list[str], now: datetime, *, actor: Actor
) -> tuple[ApiKey, str]:
    """Make ``name`` the name of exactly one live key, with ``roles`` and a new token; returns
    it and the token. The newest live key of that name keeps its id and gets the new token
    (tokens issued for it before stop working), other live keys of that name are revoked; a
    key is created when there is none."""
    live = (
        await session.scalars(
            select(ApiKey)
            .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    ).all()
    if not live:
        return await create_key(session, name, roles, now, actor=actor)
    key, *others = live
    for other in others:
        await revoke_key(session, other.id, now, actor=actor)
    token = _new_token()
    key.token_hash = hash_token(token)
    key.token_hint = _hint(token)
    key.roles = sorted(set(roles))
    audit.record(
        session,
        actor,
        "api_key.renew",
        object_type="api_key",
        object_id=key.id,
        at=now,
        summary=f"gave API key {name!r} a new token ({', '.join(key.roles)})",
        detail={"name": name, "roles": key.roles},
    )
    await session.flush()
    return key, token


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _hint(token: str) -> str:
    """What ``clarion keys list`` shows of a token: its prefix and four characters."""
    return token[: len(TOKEN_PREFIX) + 4]


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list(
        (await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))).all()
    )


async def revoke_key(
    session: AsyncSession, key_id_or_name: str, now: datetime, *, actor: Actor
) -> ApiKey:
    """Revoke by id, or by name when exactly one live key has that name."""
    key = await session.get(ApiKey, key_id_or_name)
    if key is None:
        rows = (
            await session.scalars(
                select(ApiKey).where(ApiKey.name == key_id_or_name, ApiKey.revoked_at.is_(None))
            )
        ).all()
        if len(rows) != 1:
            raise NotFound(f"No single live API key with id or name {key_id_or_name!r}")
        key = rows[0]
    revoked = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if getattr(revoked, "rowcount", 0):
        audit.record(
            session,
            actor,
            "api_key.revoke",
            object_type="api_key",
            object_id=key.id,
            at=now,
            summary=f"revoked API key {key.name!r}",
            detail={"name": key.name},
        )
    await session.refresh(key)
    return key


#: Built once: it runs on every API request.
_LIVE_KEY_BY_HASH = select(ApiKey.id, ApiKey.name, ApiKey.roles, ApiKey.token_hash).where(
    ApiKey.token_hash == bindparam("digest"), ApiKey.revoked_at.is_(None)
)


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    """The live key whose token this is, or None. Compares hashes in constant time."""
    digest = hash_token(token)
    row = (await session.execute(_LIVE_KEY_BY_HASH, {"digest": digest})).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(id=row.id, name=row.name, roles=tuple(row.roles))
