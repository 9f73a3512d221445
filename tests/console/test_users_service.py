"""Two people creating the same user at the same moment: one user, and one clear refusal."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

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
                    session, address, PASSWORD, ["viewer"], ctx.clock.now()
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
