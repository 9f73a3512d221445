"""``GET /v1/identity`` through incident.io's SDK."""

from __future__ import annotations

from incident_io import AuthenticatedClient
from incident_io.api.utilities_v1 import utilities_v1_identity as identity

from tests.contract.checks import SDK_HTTPX_ARGS, Raw
from tests.factories import make_key
from tests.harness import LiveServer


def test_identity_names_the_key_and_its_roles_with_empty_team_lists(
    server: LiveServer,
) -> None:
    token = make_key(server, "status_page_publisher", "viewer", name="deploy bot")
    with AuthenticatedClient(
        base_url=server.base_url,
        token=token,
        raise_on_unexpected_status=True,
        httpx_args=SDK_HTTPX_ARGS,
    ) as sdk:
        response = identity.sync_detailed(client=sdk)
    assert response.status_code == 200
    who = response.parsed.identity
    assert who.name == "deploy bot"
    assert sorted(who.roles) == ["status_page_publisher", "viewer"]
    assert who.team_roles == []
    assert who.teams == []
    assert who.dashboard_url.startswith("http")


def test_identity_is_open_to_every_role_and_sends_every_required_key(
    server: LiveServer,
) -> None:
    token = make_key(server, "viewer", name="reader")
    raw = Raw(server.base_url, token)
    body = raw.get("/v1/identity").json()
    raw.close()
    assert set(body["identity"]) == {"name", "dashboard_url", "roles", "team_roles", "teams"}
    assert body["identity"]["roles"] == ["viewer"]


def test_identity_without_a_key_is_401(server: LiveServer, sdk: AuthenticatedClient) -> None:
    raw = Raw(server.base_url)
    response = raw.get("/v1/identity")
    raw.close()
    assert response.status_code == 401
