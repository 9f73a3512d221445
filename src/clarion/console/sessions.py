"""Server-side console sessions: started at sign-in, looked up on every request, ended at
sign-out (one or all of a user's), at deactivation and password reset, and by expiry.

The browser holds a random token (the session cookie); the table holds its SHA-256 hash. Each
session has its own CSRF token, which its forms carry (``web.csrf_field``): a form of another
session, or of none, is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.api_keys.service import hash_token
from clarion.console.models import ConsoleSession, User
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.settings import Settings

#: How often a busy session's ``last_seen_at`` is written (the idle expiry's granularity).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Visit:
    """A signed-in request: its session and its user (read on every request, so a role
    change, a deactivation or a sign-out elsewhere counts at once)."""

    session_id: str
    user_id: str
    email: str
    roles: tuple[str, ...]
    csrf_token: str
    flash: str | None

    def has(self, role: str) -> bool:
        return role in self.roles

    def csrf_matches(self, token: str) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token.encode())


def _idle(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.console_session_idle_minutes)


async def start_session(
    session: AsyncSession, user: User, now: datetime, settings: Settings, previous: str | None
) -> str:
    """A new session for ``user``; returns its token (for the cookie only). The session of
    ``previous`` (the token the browser held before signing in), if any, ends: a sign-in
    never keeps a session id the browser had before. Expired sessions are cleared away."""
    await session.execute(
        delete(ConsoleSession).where(
            or_(
                ConsoleSession.expires_at <= now,
                ConsoleSession.last_seen_at <= now - _idle(settings),
                *([ConsoleSession.token_hash == hash_token(previous)] if previous else []),
            )
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            id=new_id(),
            token_hash=hash_token(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            flash=None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.console_session_max_hours),
        )
    )
    await session.execute(update(User).where(User.id == user.id).values(last_sign_in_at=now))
    await session.flush()
    return token


#: Built once: it runs on every console request.
_VISIT = (
    select(
        ConsoleSession.id,
        ConsoleSession.user_id,
        ConsoleSession.csrf_token,
        ConsoleSession.flash,
        ConsoleSession.last_seen_at,
        ConsoleSession.expires_at,
        ConsoleSession.token_hash,
        User.email,
        User.roles,
    )
    .join(User, User.id == ConsoleSession.user_id)
    .where(ConsoleSession.token_hash == bindparam("digest"), User.deactivated_at.is_(None))
)


async def find_visit(ctx: AppContext, token: str, *, seen: bool = True) -> Visit | None:
    """The live session whose token this is (its user active), or None. Marks it seen (at
    most once a ``TOUCH_EVERY``) unless ``seen`` is False: a page refreshing itself is not
    the person using it, and must not keep an idle session alive."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    async with ctx.db.read() as session:
        row = (await session.execute(_VISIT, {"digest": digest})).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = ctx.clock.now()
    if row.expires_at <= now or row.last_seen_at <= now - _idle(ctx.settings):
        return None
    if seen and now - row.last_seen_at >= TOUCH_EVERY:
        async with ctx.db.write() as session:
            await session.execute(
                update(ConsoleSession).where(ConsoleSession.id == row.id).values(last_seen_at=now)
            )
    return Visit(
        session_id=row.id,
        user_id=row.user_id,
        email=row.email,
        roles=tuple(row.roles),
        csrf_token=row.csrf_token,
        flash=row.flash,
    )


async def end_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))


async def set_flash(session: AsyncSession, session_id: str, text: str) -> None:
    """Show ``text`` on the next page the session sees (write it in the transaction of the
    action it reports)."""
    await session.execute(
        update(ConsoleSession).where(ConsoleSession.id == session_id).values(flash=text[:1000])
    )


async def take_flash(ctx: AppContext, visit: Visit) -> str | None:
    """The session's flash message, cleared now that a page shows it."""
    if visit.flash is None:
        return None
    async with ctx.db.write() as session:
        await session.execute(
            update(ConsoleSession).where(ConsoleSession.id == visit.session_id).values(flash=None)
        )
    return visit.flash
