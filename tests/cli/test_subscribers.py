"""``clarion subscribers list`` against a live server's database."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner, Result

from clarion.cli.main import cli
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.subscribers.models import EMAIL, WEBHOOK, Subscription
from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import add_subscribers


def run(server: LiveServer, *args: str) -> Result:
    env = {"CLARION_DATABASE_URL": server.settings.database_url}
    return CliRunner().invoke(cli, ["subscribers", *args], env=env)


def test_list_shows_each_subscriber_with_its_state_and_hides_webhook_secrets(
    server: LiveServer,
) -> None:
    page = make_page(server, components=1)
    other = make_page(server, components=1)
    [active] = add_subscribers(server, page.id, 1, prefix="active")
    [elsewhere] = add_subscribers(server, other.id, 1, prefix="elsewhere")

    async def body(ctx: AppContext) -> None:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            base = {
                "status_page_id": page.id,
                "consecutive_failures": 0,
                "created_at": now,
                "updated_at": now,
                "confirmations_sent": 0,
                "component_ids": [],
            }
            session.add(
                Subscription(id=new_id(), channel=EMAIL, email="pending@example.test", **base)
            )
            session.add(
                Subscription(
                    id=new_id(),
                    channel=EMAIL,
                    email="gone@example.test",
                    confirmed_at=now,
                    unsubscribed_at=now,
                    **base,
                )
            )
            session.add(
                Subscription(
                    id=new_id(),
                    channel=WEBHOOK,
                    url="https://user:pw@hooks.example.test/in?key=abc",
                    signing_secret="whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
                    confirmed_at=now,
                    disabled_at=now + timedelta(seconds=1),
                    **{**base, "consecutive_failures": 10},
                )
            )

    server.call(body)
    result = run(server, "list", "--page", page.slug)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    by_target = {line.split("  ")[3]: line for line in lines}
    assert "  active  " in by_target[active]
    assert "  pending  " in by_target["pending@example.test"]
    assert "  unsubscribed  " in by_target["gone@example.test"]
    hook = by_target["https://hooks.example.test/in"]
    assert "  disabled " in hook and "failures=10" in hook
    assert (
        "whsec_" not in result.output
        and "pw@" not in result.output
        and "key=abc" not in result.output
    )
    assert elsewhere not in result.output

    everything = run(server, "list")
    assert elsewhere in everything.stdout and active in everything.stdout
