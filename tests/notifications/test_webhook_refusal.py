"""With CLARION_WEBHOOK_ALLOW_PRIVATE off, deliveries to private targets are refused when the
connection is made, whatever the URL looked like when the webhook was stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from incident_io import AuthenticatedClient

from clarion.context import AppContext
from clarion.notifications.webhooks import WebhookSender
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server
from tests.notifications.test_webhook_delivery import (
    deliver_until_settled,
    publish,
    rows_of,
    subscribe,
    subscription,
)
from tests.notifications.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with (
        fresh_database(str(tmp_path_factory.mktemp("strict"))) as url,
        live_server(url, webhook_allow_private=False, outbox_retry_base_seconds=0.01) as srv,
    ):
        assert not srv.settings.webhook_allow_private
        yield srv


@pytest.fixture(scope="module")
def strict_sdk(strict_server: LiveServer) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(
        base_url=strict_server.base_url,
        token=make_key(strict_server),
        raise_on_unexpected_status=True,
    ) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def _use_resolver(server: LiveServer, answer: list[str] | None) -> None:
    """Give the server a fresh sender (the policy from its settings), optionally with a
    resolver that answers ``answer`` for every name."""

    async def resolve(host: str, port: int) -> list[str]:
        assert answer is not None
        return answer

    async def body(ctx: AppContext) -> None:
        kwargs = {} if answer is None else {"resolver": resolve}
        ctx.channels.webhook_sender = WebhookSender(
            allow_private=ctx.settings.webhook_allow_private,
            timeout_seconds=ctx.settings.webhook_timeout_seconds,
            **kwargs,  # type: ignore[arg-type]
        )

    server.call(body)


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "[::1]", "169.254.169.254", "2130706433", "[::ffff:127.0.0.1]"],
)
def test_a_private_target_is_refused_at_delivery_and_never_contacted(
    strict_server: LiveServer, strict_sdk: AuthenticatedClient, receiver: Receiver, host: str
) -> None:
    _use_resolver(strict_server, None)
    page: PageInfo = make_page(strict_server, components=2)
    sub_id, _ = subscribe(strict_server, page, f"http://{host}:{receiver.port}/hook")
    publish(strict_sdk, page)
    deliver_until_settled(strict_server, sub_id)

    assert receiver.received() == []
    [row] = rows_of(strict_server, sub_id)
    assert row.status == "dead"
    assert "refused" in (row.last_error or "")
    assert "CLARION_WEBHOOK_ALLOW_PRIVATE" in (row.last_error or "")
    assert subscription(strict_server, sub_id).consecutive_failures == 1


def test_a_name_resolving_to_loopback_at_delivery_is_refused(
    strict_server: LiveServer, strict_sdk: AuthenticatedClient, receiver: Receiver
) -> None:
    _use_resolver(strict_server, ["93.184.216.34", "127.0.0.1"])
    page = make_page(strict_server, components=2)
    sub_id, _ = subscribe(strict_server, page, f"http://hooks.example.net:{receiver.port}/hook")
    publish(strict_sdk, page)
    deliver_until_settled(strict_server, sub_id)

    assert receiver.received() == []
    [row] = rows_of(strict_server, sub_id)
    assert row.status == "dead"
    assert "resolves to 127.0.0.1" in (row.last_error or "")


def test_the_same_name_is_delivered_when_private_targets_are_allowed(
    strict_server: LiveServer, strict_sdk: AuthenticatedClient, receiver: Receiver
) -> None:
    """The control for the refusals above: with the policy off, the receiver is reached."""

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async def body(ctx: AppContext) -> None:
        ctx.channels.webhook_sender = WebhookSender(
            allow_private=True, timeout_seconds=5, resolver=resolve
        )

    strict_server.call(body)
    try:
        page = make_page(strict_server, components=2)
        sub_id, _ = subscribe(strict_server, page, f"http://hooks.example.net:{receiver.port}/hook")
        publish(strict_sdk, page)
        deliver_until_settled(strict_server, sub_id)
        assert len(receiver.received()) == 1
        assert receiver.received()[0].headers["host"] == f"hooks.example.net:{receiver.port}"
    finally:
        _use_resolver(strict_server, None)
