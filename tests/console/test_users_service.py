"""Two people creating the same user at the same moment: one user, and one clear refusal."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from clarion.audit import Actor
from clarion.console import users
from clarion.console.models import User
from clarion.context import AppContext
from clarion.errors import Conflict
from tests.console.helpers import PASSWORD
from tests.harness import LiveServer


def test_concurrent_creation_of_one_address_makes_one_user(server: LiveServer) -> None:
    email = f"race-{uuid.uuid4().hex[:8]}@example.test"

    async def create(ctx: AppContext, address: str) -> str:
        try:
            async with ctx.db.write() as session:
                user = await users.create_user(
                    session,
                    address,
                    PASSWORD,
                    ["viewer"],
                    ctx.clock.now(),
                    actor=Actor.cli("tests"),
                )
            return user.id
        except Conflict as error:
            return f"refused: {error}"

    async def race(ctx: AppContext) -> tuple[list[str], int]:
        outcomes = await asyncio.gather(*(create(ctx, e) for e in (email, email.upper()) * 2))
        async with ctx.db.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(User).where(User.email == email)
            )
        return list(outcomes), int(count or 0)

    outcomes, count = server.call(race)
    assert count == 1
    refused = [o for o in outcomes if o.startswith("refused: ")]
    assert len(refused) == 3
    assert all(f"A user with the e-mail address {email} exists" in o for o in refused)


def test_a_hash_made_with_weaker_parameters_is_renewed_at_sign_in(server: LiveServer) -> None:
    from argon2 import PasswordHasher

    from tests.console.helpers import Console, new_user

    email = new_user(server)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)

    async def set_hash(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            user = await users.user_by_email(session, email)
            await users.store_password_hash(session, user.id, weak)

    async def stored_hash(ctx: AppContext) -> str:
        async with ctx.db.read() as session:
            return (await users.user_by_email(session, email)).password_hash

    server.call(set_hash)
    assert Console(server).sign_in(email).status_code == 303
    renewed = server.call(stored_hash)
    assert renewed != weak and "m=65536" in renewed and renewed.startswith("$argon2id$")
    assert Console(server).sign_in(email).status_code == 303
    assert server.call(stored_hash) == renewed
