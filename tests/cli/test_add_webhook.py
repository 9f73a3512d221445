"""``clarion subscribers add-webhook | enable-webhook | remove-webhook`` against the test
server's database."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner, Result

from clarion.cli.main import cli
from clarion.context import AppContext
from clarion.subscribers.models import Subscription
from tests.factories import PageInfo
from tests.harness import LiveServer


def run(server: LiveServer, *args: str, **env: str) -> Result:
    environment = {"CLARION_DATABASE_URL": server.settings.database_url, **env}
    return CliRunner().invoke(cli, ["subscribers", *args], env=environment)


def stored(server: LiveServer, subscription_id: str) -> Subscription:
    async def body(ctx: AppContext) -> Subscription:
        async with ctx.db.read() as session:
            found = await session.get(Subscription, subscription_id)
            assert found is not None
            return found

    return server.call(body)


def added_id(result: Result) -> str:
    line = next(x for x in result.stderr.splitlines() if x.startswith("added webhook"))
    return line.rsplit(" ", 1)[1]


def test_add_webhook_prints_only_the_signing_secret_on_stdout(
    server: LiveServer, page: PageInfo
) -> None:
    result = run(server, "add-webhook", "--page", page.slug, "https://hooks.example.com/in")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    secret = lines[0]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24

    sub = stored(server, added_id(result))
    assert sub.channel == "webhook"
    assert sub.url == "https://hooks.example.com/in"
    assert sub.signing_secret == secret
    assert sub.confirmed_at is not None
    assert sub.component_ids == []
    assert sub.status_page_id == page.id


def test_components_are_named_by_key_or_id(server: LiveServer, page: PageInfo) -> None:
    keys = sorted(page.components)
    result = run(
        server,
        "add-webhook",
        "--page",
        page.slug,
        "--component",
        keys[0],
        "--component",
        page.components[keys[1]],
        "https://hooks.example.com/components",
    )
    assert result.exit_code == 0, result.output
    sub = stored(server, added_id(result))
    assert sub.component_ids == [page.components[keys[0]], page.components[keys[1]]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--component", "no-such-component"], "no component"),
        ([], "http:// or https://"),
    ],
)
def test_bad_components_and_urls_are_refused(
    server: LiveServer, page: PageInfo, args: list[str], message: str
) -> None:
    url = "https://hooks.example.com/x" if args else "ftp://hooks.example.com/x"
    result = run(server, "add-webhook", "--page", page.slug, *args, url)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert message in result.stderr


def test_an_unknown_page_is_refused(server: LiveServer) -> None:
    result = run(server, "add-webhook", "--page", "no-such-page", "https://hooks.example.com/x")
    assert result.exit_code != 0
    assert "No status page" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
    ],
)
def test_private_targets_are_refused_unless_allowed(
    server: LiveServer, page: PageInfo, url: str
) -> None:
    refused = run(
        server, "add-webhook", "--page", page.slug, url, CLARION_WEBHOOK_ALLOW_PRIVATE="false"
    )
    assert refused.exit_code != 0
    assert refused.stdout == ""
    assert "CLARION_WEBHOOK_ALLOW_PRIVATE" in refused.stderr

    allowed = run(
        server, "add-webhook", "--page", page.slug, url, CLARION_WEBHOOK_ALLOW_PRIVATE="1"
    )
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout.startswith("whsec_")


def test_a_disabled_webhook_can_be_enabled_and_a_webhook_removed(
    server: LiveServer, page: PageInfo
) -> None:
    result = run(server, "add-webhook", "--page", page.slug, "https://hooks.example.com/e")
    sub_id = added_id(result)

    async def disable(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            sub = await session.get(Subscription, sub_id)
            assert sub is not None
            sub.disabled_at = ctx.clock.now()
            sub.consecutive_failures = 10

    server.call(disable)
    listed = run(server, "list", "--page", page.slug)
    assert sub_id in listed.stdout and "disabled" in listed.stdout

    enabled = run(server, "enable-webhook", sub_id)
    assert enabled.exit_code == 0, enabled.output
    sub = stored(server, sub_id)
    assert (sub.disabled_at, sub.consecutive_failures) == (None, 0)

    removed = run(server, "remove-webhook", sub_id)
    assert removed.exit_code == 0, removed.output
    assert stored(server, sub_id).unsubscribed_at is not None
    again = run(server, "enable-webhook", sub_id)
    assert again.exit_code != 0


def test_unknown_subscriptions_are_reported(server: LiveServer) -> None:
    for command in ("enable-webhook", "remove-webhook"):
        result = run(server, command, "01NOSUCHSUBSCRIPTION00000")
        assert result.exit_code != 0
        assert "No webhook subscription" in result.stderr


def test_the_secret_is_not_in_the_subscribers_list(server: LiveServer, page: PageInfo) -> None:
    result = run(
        server, "add-webhook", "--page", page.slug, "https://hooks.example.com/l?token=abc123"
    )
    secret = result.stdout.strip()
    listed = run(server, "list", "--page", page.slug)
    assert listed.exit_code == 0
    assert secret not in listed.stdout
    assert "abc123" not in listed.stdout
    assert "hooks.example.com/l" in listed.stdout
