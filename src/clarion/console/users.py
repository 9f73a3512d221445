"""Console users: create, list, change roles, deactivate, reset passwords, check a sign-in.

E-mail addresses are compared and stored lower-cased (``normalise_email``). Deactivating a
user or resetting their password ends all of their sessions in the same transaction. Each
change records one audit log entry (``user.*``) in its transaction; no password, hash or
session token ever goes into it.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.api_keys.service import ROLES
from clarion.audit import Actor
from clarion.audit.service import record
from clarion.console.models import ConsoleSession, User
from clarion.console.passwords import check_password_rules, hash_password, verify_password
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.ids import new_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
EMAIL_MAX = 320


def normalise_email(email: str) -> str:
    """The form an address is stored and looked up in: trimmed, lower-cased."""
    return email.strip().lower()


def check_email(email: str) -> str:
    """The normalised address; raises ``ValidationFailed`` at ``email`` when it is not one."""
    normal = normalise_email(email)
    if not normal:
        raise ValidationFailed.at("is_required", "email is required", "email")
    if len(normal) > EMAIL_MAX:
        raise ValidationFailed.at(
            "too_long", f"email must be at most {EMAIL_MAX} characters long", "email"
        )
    if not _EMAIL.match(normal):
        raise ValidationFailed.at("invalid_value", "email must be an e-mail address", "email")
    return normal


def check_roles(roles: list[str]) -> list[str]:
    """The roles, sorted and without repeats; raises ``ValidationFailed`` at ``roles``."""
    if not roles:
        raise ValidationFailed.at("is_required", "roles must name at least one role", "roles")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValidationFailed.at(
            "invalid_value",
            f"roles must be among {', '.join(sorted(ROLES))} (not {', '.join(unknown)})",
            "roles",
        )
    return sorted(set(roles))


def _record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    user: User,
    now: datetime,
    summary: str,
    **detail: object,
) -> None:
    record(
        session,
        actor,
        action,
        object_type="user",
        object_id=user.id,
        at=now,
        summary=summary,
        detail={"email": user.email, **detail},
    )


async def create_user(
    session: AsyncSession,
    email: str,
    password: str,
    roles: list[str],
    now: datetime,
    *,
    actor: Actor,
) -> User:
    """A new active user. Raises ``ValidationFailed`` (email, password, roles) or
    ``Conflict`` when the address is taken."""
    normal = check_email(email)
    chosen = check_roles(roles)
    check_password_rules(password, normal)
    if await session.scalar(select(User.id).where(User.email == normal)) is not None:
        raise Conflict(f"A user with the e-mail address {normal} exists", "email_taken")
    user = User(
        id=new_id(),
        email=normal,
        password_hash=await hash_password(password),
        roles=chosen,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
        deactivated_at=None,
        last_sign_in_at=None,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # created at the same moment by someone else
        raise Conflict(f"A user with the e-mail address {normal} exists", "email_taken") from None
    _record(
        session,
        actor,
        "user.create",
        user,
        now,
        f"Created the user {normal} ({', '.join(chosen)})",
        roles=chosen,
    )
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(select(User).order_by(User.email))).all())


async def user_by_email(session: AsyncSession, email: str) -> User:
    """The user with this address (any case); raises ``NotFound``."""
    user = await session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No user with the e-mail address {normalise_email(email)}")
    return user


async def set_roles(
    session: AsyncSession, email: str, roles: list[str], now: datetime, *, actor: Actor
) -> User:
    """Replace the user's roles (their open sessions have the new roles at their next
    request)."""
    chosen = check_roles(roles)
    user = await user_by_email(session, email)
    before = list(user.roles)
    user.roles = chosen
    user.updated_at = now
    _record(
        session,
        actor,
        "user.set_roles",
        user,
        now,
        f"Set the roles of {user.email} to {', '.join(chosen)}",
        roles=chosen,
        previous_roles=before,
    )
    await session.flush()
    return user


async def end_sessions(session: AsyncSession, user_id: str) -> int:
    """End every session of the user; returns how many there were."""
    result = await session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def deactivate(
    session: AsyncSession, email: str, now: datetime, *, actor: Actor
) -> tuple[User, int]:
    """The user can no longer sign in, and their open sessions end now. Returns the user and
    how many sessions ended."""
    user = await user_by_email(session, email)
    if user.deactivated_at is None:
        user.deactivated_at = now
        user.updated_at = now
    ended = await end_sessions(session, user.id)
    _record(
        session,
        actor,
        "user.deactivate",
        user,
        now,
        f"Deactivated {user.email}",
        sessions_ended=ended,
    )
    await session.flush()
    return user, ended


async def activate(session: AsyncSession, email: str, now: datetime, *, actor: Actor) -> User:
    """A deactivated user may sign in again."""
    user = await user_by_email(session, email)
    user.deactivated_at = None
    user.updated_at = now
    _record(session, actor, "user.activate", user, now, f"Activated {user.email}")
    await session.flush()
    return user


async def reset_password(
    session: AsyncSession, email: str, password: str, now: datetime, *, actor: Actor
) -> tuple[User, int]:
    """Set a new password and end the user's open sessions. Returns the user and how many
    sessions ended."""
    user = await user_by_email(session, email)
    check_password_rules(password, user.email)
    user.password_hash = await hash_password(password)
    user.password_changed_at = now
    user.updated_at = now
    ended = await end_sessions(session, user.id)
    _record(
        session,
        actor,
        "user.reset_password",
        user,
        now,
        f"Set a new password for {user.email}",
        sessions_ended=ended,
    )
    await session.flush()
    return user, ended


async def store_password_hash(session: AsyncSession, user_id: str, password_hash: str) -> None:
    """Replace the stored hash of the same password (made again with today's parameters)."""
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


async def user_for_sign_in(session: AsyncSession, email: str) -> User | None:
    """The user a sign-in names (active or not), or None."""
    normal = normalise_email(email)
    if not 0 < len(normal) <= EMAIL_MAX:
        return None
    return await session.scalar(select(User).where(User.email == normal))


async def password_accepted(user: User | None, password: str) -> bool:
    """Whether ``user`` may sign in with ``password``. An unknown address (``user`` None), a
    deactivated user and a wrong password cost the same (one password check) and look the
    same to the caller. Call it outside any transaction: it takes tens of milliseconds."""
    matches = await verify_password(user.password_hash if user is not None else None, password)
    return user is not None and matches and user.deactivated_at is None
