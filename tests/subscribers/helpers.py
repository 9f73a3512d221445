"""Steps shared by the subscription tests: the public forms over HTTP, incidents through the
official SDK, and draining the outbox on the server's loop."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident_api,
)
from incident_io.models import (
    StatusPageIncidentAffectedComponentV2,
    StatusPageIncidentAffectedComponentV2ComponentStatus,
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
)

from clarion.context import AppContext
from clarion.notifications.outbox import deliver_due
from tests.factories import make_key
from tests.harness import LiveServer
from tests.subscribers.smtp_sink import Received

_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_LINK = re.compile(r"(https?://\S+/subscribe/confirm\?token=\S+)")


def drain(server: LiveServer, rounds: int = 50) -> int:
    """Deliver everything due now (on the server's loop); returns how many rows were handled."""

    async def body(ctx: AppContext) -> int:
        total = 0
        for _ in range(rounds):
            did = await deliver_due(ctx)
            if not did:
                break
            total += did
        return total

    return server.call(body)


def subscribe(
    http: httpx.Client, slug: str, email: str, components: list[str] | None = None
) -> httpx.Response:
    form = http.get(f"/{slug}/subscribe")
    assert form.status_code == 200, form.text
    match = _FORM_TOKEN.search(form.text)
    assert match is not None
    data: dict[str, str | list[str]] = {"form_token": match.group(1), "email": email}
    if components:
        data["component"] = components
    return http.post(f"/{slug}/subscribe", data=data)


def confirmation_link(mail: Received) -> str:
    match = _LINK.search(mail.text)
    assert match is not None, mail.text
    return match.group(1)


def confirm(http: httpx.Client, mail: Received) -> httpx.Response:
    link = confirmation_link(mail)
    page = http.get(link)
    assert page.status_code == 200, page.text
    assert "Confirm subscription" in page.text
    return http.post(link)


@contextmanager
def sdk_for(server: LiveServer) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(
        base_url=server.base_url, token=make_key(server), raise_on_unexpected_status=True
    ) as client:
        yield client


def create_incident(
    sdk: AuthenticatedClient,
    page_id: str,
    name: str,
    message: str = "We are investigating.",
    *,
    notify: bool = True,
    components: dict[str, str] | None = None,
) -> Any:
    statuses = [
        StatusPageIncidentAffectedComponentV2(
            component_id=cid,
            component_status=StatusPageIncidentAffectedComponentV2ComponentStatus(status),
        )
        for cid, status in (components or {}).items()
    ]
    response = create_incident_api.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentPayloadV2(
            status_page_id=page_id,
            name=name,
            incident_status=StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus.INVESTIGATING,
            message=message,
            notify_subscribers=notify,
            idempotency_key=str(uuid.uuid4()),
            component_statuses=statuses,
        ),
    )
    assert response.status_code == 201, response.content
    return response.parsed.status_page_incident


def add_subscribers(
    server: LiveServer,
    page_id: str,
    count: int,
    *,
    components: list[str] | None = None,
    prefix: str = "sub",
) -> list[str]:
    """``count`` confirmed e-mail subscribers (written directly); returns their addresses."""
    from clarion.ids import new_id
    from clarion.subscribers.models import EMAIL, Subscription

    tag = uuid.uuid4().hex[:6]
    addresses = [f"{prefix}-{tag}-{i}@example.test" for i in range(count)]

    async def body(ctx: AppContext) -> None:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            session.add_all(
                Subscription(
                    id=new_id(),
                    status_page_id=page_id,
                    channel=EMAIL,
                    email=a,
                    component_ids=list(components or []),
                    confirmed_at=now,
                    consecutive_failures=0,
                    confirmations_sent=0,
                    created_at=now,
                    updated_at=now,
                )
                for a in addresses
            )

    server.call(body)
    return addresses


def outbox_rows(server: LiveServer, **filters: Any) -> list[Any]:
    """Outbox rows matching column equality ``filters``."""
    from sqlalchemy import select

    from clarion.notifications.models import OutboxMessage

    async def body(ctx: AppContext) -> list[Any]:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        for name, value in filters.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        async with ctx.db.read() as session:
            return list((await session.scalars(query)).all())

    return server.call(body)
