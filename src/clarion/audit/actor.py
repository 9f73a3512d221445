"""Who makes a write: every write service function takes one and records it in the audit log."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["api_key", "user", "cli", "system"]


@dataclass(frozen=True)
class Actor:
    """``kind``: ``api_key`` (``id`` the key's id, ``name`` its name), ``user`` (a console
    user: their id and e-mail), ``cli`` (``id`` the OS user, ``name`` ``cli:<OS user>``) or
    ``system`` (Clarion itself: ``system:automation`` moves maintenance windows)."""

    kind: ActorKind
    id: str
    name: str

    @classmethod
    def api_key(cls, key_id: str, key_name: str) -> Actor:
        return cls("api_key", key_id, key_name)

    @classmethod
    def user(cls, user_id: str, email: str) -> Actor:
        return cls("user", user_id, email)

    @classmethod
    def cli(cls, os_user: str | None = None) -> Actor:
        """The operator running the ``clarion`` command (the OS user of this process)."""
        name = os_user or _os_user()
        return cls("cli", name, f"cli:{name}")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        import os

        return f"uid-{os.getuid()}"


#: The worker's maintenance automation (windows started and completed on time).
AUTOMATION = Actor("system", "automation", "system:automation")
