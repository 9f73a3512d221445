"""Passwords: argon2id hashes (argon2-cffi, its RFC 9106 low-memory profile) and the rules a
new password must meet.

Hashing and checking cost tens of milliseconds of CPU on purpose; the async callers run them
in a thread (``hash_password``, ``verify_password``) so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import gzip
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clarion.errors import ValidationFailed

MIN_LENGTH = 12
#: Longer passwords are refused: hashing a megabyte on every sign-in would be a cheap attack.
MAX_LENGTH = 1024
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt.gz"

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords, lower-cased (see ``data/README.md``)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` may not be used (by the user ``email``), or None."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters long"
    if not password.strip():
        return "password must not be blank"
    lowered = password.lower()
    if lowered in common_passwords():
        return "password is one of the most common passwords; choose another"
    if email and lowered in (email.lower(), email.lower().split("@", 1)[0]):
        return "password must not be the e-mail address"
    return None


def check_password_rules(password: str, email: str = "") -> None:
    """Raises ``ValidationFailed`` at ``password`` when the password may not be used."""
    problem = password_problem(password, email)
    if problem is not None:
        code = "too_short" if "at least" in problem else "invalid_value"
        raise ValidationFailed.at(code, problem, "password")


def hash_password_now(password: str) -> str:
    """The argon2id hash of ``password`` (blocking: use ``hash_password`` in async code)."""
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than today's (hash it again at the
    next successful sign-in)."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(stored: str | None, password: str) -> bool:
    # An unknown e-mail still costs one verification, so that its answer takes as long as a
    # wrong password's.
    try:
        return _hasher.verify(stored or _dummy_hash(), password[:MAX_LENGTH]) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash; with ``stored=None`` (no such user)
    a dummy hash is checked and the answer is False."""
    return await asyncio.to_thread(_verify, stored, password)
