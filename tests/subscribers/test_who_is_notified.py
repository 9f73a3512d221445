"""Who hears about what: whole-page and per-component subscribers, the preferences page, and
the writes that notify no one (notify off, renames, retrospective incidents)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_update_api,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_incident as rename_api,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
    StatusPagesUpdateStatusPageIncidentPayloadV2,
)

from tests.factories import make_key, make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import (
    add_subscribers,
    confirm,
    create_incident,
    drain,
    outbox_rows,
    sdk_for,
    subscribe,
)
from tests.subscribers.smtp_sink import SmtpSink


def test_component_subscribers_hear_only_about_their_components_and_page_subscribers_hear_all(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server, components=3)
    api, web, _db = list(page.components.values())
    [whole] = add_subscribers(mail_server, page.id, 1, prefix="whole")
    [api_only] = add_subscribers(mail_server, page.id, 1, components=[api], prefix="api")
    [web_only] = add_subscribers(mail_server, page.id, 1, components=[web], prefix="web")
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "API errors", components={api: "partial_outage"})
        create_incident(sdk, page.id, "General notice")
    drain(mail_server)
    subjects = {
        a: sorted(m.message["Subject"] for m in sink.to(a)) for a in (whole, api_only, web_only)
    }
    assert len(subjects[whole]) == 2
    assert [s.rsplit(": ", 1)[1] for s in subjects[api_only]] == ["API errors"]
    assert subjects[web_only] == []


def test_a_component_subscriber_hears_the_resolution_of_an_incident_on_their_component(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server, components=2)
    api = next(iter(page.components.values()))
    [reader] = add_subscribers(mail_server, page.id, 1, components=[api])
    with sdk_for(mail_server) as sdk:
        incident = create_incident(sdk, page.id, "API down", components={api: "full_outage"})
        response = create_update_api.sync_detailed(
            client=sdk,
            body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2(
                status_page_incident_id=incident.id,
                message="Fixed.",
                notify_subscribers=True,
                incident_status=StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus.RESOLVED,
            ),
        )
        assert response.status_code == 201
    drain(mail_server)
    subjects = [m.message["Subject"] for m in sink.to(reader)]
    assert len(subjects) == 2
    assert "Resolved" in subjects[1]


def test_writes_without_notify_renames_and_retrospective_incidents_queue_nothing(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server)
    [reader] = add_subscribers(mail_server, page.id, 1)
    with sdk_for(mail_server) as sdk:
        quiet = create_incident(sdk, page.id, "Quiet", notify=False)
        renamed = rename_api.sync_detailed(
            quiet.id, client=sdk, body=StatusPagesUpdateStatusPageIncidentPayloadV2(name="Renamed")
        )
        assert renamed.status_code == 200
    past = datetime.now(UTC) - timedelta(days=3)
    with httpx.Client(base_url=mail_server.base_url, timeout=30) as http:
        retro = http.post(
            "/v2/status_page_retrospective_incidents",
            headers={"Authorization": f"Bearer {make_key(mail_server)}"},
            json={
                "status_page_id": page.id,
                "name": "Last week",
                "idempotency_key": str(uuid.uuid4()),
                "updates": [
                    {
                        "message": "Down",
                        "incident_status": "investigating",
                        "published_at": past.isoformat(),
                    },
                    {
                        "message": "Up",
                        "incident_status": "resolved",
                        "published_at": (past + timedelta(hours=1)).isoformat(),
                    },
                ],
            },
        )
        assert retro.status_code == 201, retro.text
    assert [
        r
        for r in outbox_rows(mail_server)
        if r.subject_id in (quiet.id, retro.json()["status_page_incident"]["id"])
    ] == []
    drain(mail_server)
    assert sink.to(reader) == []


def test_the_preferences_page_narrows_a_subscription_to_chosen_components(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server, components=3)
    api, web, _ = list(page.components.values())
    reader = f"prefs-{uuid.uuid4().hex[:8]}@example.test"
    subscribe(http, page.slug, reader)
    drain(mail_server)
    confirm(http, sink.to(reader)[0])
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "Everything slow")
        drain(mail_server)
        mail = sink.to(reader)[-1]
        match = re.search(r"(https?://\S+/preferences\?token=\S+)", mail.text)
        assert match is not None
        link = match.group(1)
        shown = http.get(link)
        assert shown.status_code == 200
        assert f'value="{api}"' in shown.text
        saved = http.post(link, data={"component": [web]})
        assert saved.status_code == 200
        assert re.search(rf'value="{web}"\s+checked', saved.text)
        create_incident(sdk, page.id, "API only", components={api: "degraded_performance"})
        create_incident(sdk, page.id, "Web only", components={web: "degraded_performance"})
        drain(mail_server)
    subjects = [m.message["Subject"] for m in sink.to(reader)]
    assert subjects[-1].endswith("Web only")
    assert not any(s.endswith("API only") for s in subjects)


def test_a_subscription_chosen_for_components_at_subscribe_time_is_targeted(
    mail_server: LiveServer, sink: SmtpSink, http: httpx.Client
) -> None:
    page = make_page(mail_server, components=2)
    api, web = list(page.components.values())
    reader = f"comp-{uuid.uuid4().hex[:8]}@example.test"
    subscribe(http, page.slug, reader, components=[web, "not-a-component"])
    drain(mail_server)
    confirm(http, sink.to(reader)[0])
    with sdk_for(mail_server) as sdk:
        create_incident(sdk, page.id, "API", components={api: "partial_outage"})
        create_incident(sdk, page.id, "Web", components={web: "partial_outage"})
    drain(mail_server)
    assert [m.message["Subject"].rsplit(": ", 1)[1] for m in sink.to(reader)[1:]] == ["Web"]
