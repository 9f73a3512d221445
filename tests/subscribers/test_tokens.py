"""Signed link tokens, and the signing key Clarion generates when none is configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clarion.context import AppContext
from clarion.subscribers.tokens import CONFIRM, MANAGE, make_token, read_token, signing_key
from tests.harness import LiveServer, fresh_database, live_server

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_token_reads_back_only_with_its_key_its_purpose_and_within_its_age() -> None:
    token = make_token(b"key-one", CONFIRM, "01SUBSCRIPTION", NOW)
    found = read_token(b"key-one", token, CONFIRM, NOW + timedelta(days=1), 7 * 86400)
    assert found is not None and found.subject == "01SUBSCRIPTION"
    assert read_token(b"key-two", token, CONFIRM, NOW) is None
    assert read_token(b"key-one", token, MANAGE, NOW) is None
    assert read_token(b"key-one", token, CONFIRM, NOW + timedelta(days=8), 7 * 86400) is None
    forged = token.replace("01SUBSCRIPTION", "01SOMEONEELSE0")
    assert read_token(b"key-one", forged, CONFIRM, NOW) is None
    assert read_token(b"key-one", "", CONFIRM, NOW) is None
    assert read_token(b"key-one", "a.b.c.d.e", CONFIRM, NOW) is None


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[LiveServer]:
    with fresh_database(str(tmp_path)) as url, live_server(url, secret_key="") as srv:
        yield srv


def test_without_a_configured_key_one_is_generated_stored_and_shared(keyless: LiveServer) -> None:
    async def keys(ctx: AppContext) -> tuple[bytes, bytes, bytes]:
        other = AppContext.build(ctx.settings, ctx.clock)
        try:
            first, second = await signing_key(ctx), await signing_key(other)
        finally:
            await other.close()
        return first, second, await signing_key(ctx)

    first, second, again = keyless.call(keys)
    assert first == second == again
    assert len(first) >= 32
