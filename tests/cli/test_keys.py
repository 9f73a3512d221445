"""``clarion keys`` through ``python -m clarion`` subprocesses, against the live server's
database."""

from __future__ import annotations

import uuid

from click.testing import CliRunner
from sqlalchemy import select

from clarion.api_keys.models import ApiKey
from clarion.cli.main import cli
from clarion.context import AppContext
from tests.contract.checks import Raw
from tests.contract.cli import run_cli
from tests.factories import make_key
from tests.harness import LiveServer


def test_keys_create_prints_the_token_alone_and_stores_only_its_hash(
    server: LiveServer,
) -> None:
    name = f"ci-{uuid.uuid4().hex[:6]}"
    result = run_cli(
        server.settings.database_url,
        "keys",
        "create",
        "--name",
        name,
        "--role",
        "status_page_publisher",
        "--role",
        "viewer",
    )
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("clarion_") and " " not in token and len(token) > 30

    raw = Raw(server.base_url, token)
    identity = raw.get("/v1/identity").json()["identity"]
    raw.close()
    assert identity["name"] == name
    assert identity["roles"] == ["status_page_publisher", "viewer"]

    async def stored(ctx: AppContext) -> list[str]:
        async with ctx.db.read() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.name == name))
            assert row is not None
            return [str(v) for v in (row.id, row.name, row.token_hash, row.token_hint)]

    values = server.call(stored)
    assert token not in values
    assert len(values[2]) == 64


def test_keys_list_shows_ids_names_roles_and_state_but_never_tokens(
    server: LiveServer,
) -> None:
    name = f"lister-{uuid.uuid4().hex[:6]}"
    url = server.settings.database_url
    token = run_cli(url, "keys", "create", "--name", name, "--role", "viewer").stdout.strip()
    listing = run_cli(url, "keys", "list").stdout
    assert token not in listing
    (line,) = [line for line in listing.splitlines() if f"  {name}  " in line]
    assert "viewer" in line and line.endswith("active")

    assert run_cli(url, "keys", "revoke", name).stdout.startswith("revoked ")  # by name
    raw = Raw(server.base_url, token)
    assert raw.get("/v1/identity").status_code == 401
    raw.close()


def test_revoking_an_unknown_or_ambiguous_key_fails_cleanly(server: LiveServer) -> None:
    url = server.settings.database_url
    name = f"twin-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        make_key(server, "viewer", name=name)
    for target in (name, "no-such-key"):
        result = run_cli(url, "keys", "revoke", target, check=False)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert "No single live API key" in result.stderr


def test_keys_create_refuses_unknown_roles_and_blank_names(server: LiveServer) -> None:
    result = run_cli(
        server.settings.database_url,
        "keys",
        "create",
        "--name",
        "x",
        "--role",
        "owner",
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "owner" in result.stderr
    # The other refusals, in-process (same click command, no subprocess start-up cost).
    runner = CliRunner()
    for args in (("--name", "  ", "--role", "viewer"), ("--name", "x")):
        outcome = runner.invoke(cli, ["keys", "create", *args])
        assert outcome.exit_code == 2, (args, outcome.output)
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
