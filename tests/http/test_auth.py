"""Bearer authentication and roles: the documented 401 and 403 bodies."""

from __future__ import annotations

import uuid

import httpx

from tests.contract.checks import Raw, check_response
from tests.contract.cli import run_cli
from tests.factories import PageInfo, make_key
from tests.harness import LiveServer

PATHS = ("/v2/status_pages", "/v1/identity", "/v2/status_page_incidents?status_page_id=x")


def _get(server: LiveServer, path: str, headers: dict[str, str]) -> httpx.Response:
    response = httpx.get(server.base_url + path, headers=headers)
    check_response(response)
    return response


def test_a_request_without_a_key_gets_missing_authorization_material(server: LiveServer) -> None:
    for path in PATHS:
        for headers in ({}, {"Authorization": ""}):
            response = _get(server, path, headers)
            assert response.status_code == 401
            body = response.json()
            assert body["type"] == "authentication_error"
            assert body["status"] == 401
            assert body["errors"] == [
                {
                    "code": "missing_authorization_material",
                    "message": "No authorization material provided in request",
                }
            ]
            assert "x-ratelimit-limit" not in response.headers


def test_a_wrong_scheme_or_unknown_token_gets_access_token_invalid(
    server: LiveServer, token: str
) -> None:
    for value in (
        f"Basic {token}",
        token,
        "Bearer",
        "Bearer clarion_not-a-real-token",
        f"Bearer {token}x",
    ):
        response = _get(server, "/v2/status_pages", {"Authorization": value})
        assert response.status_code == 401, value
        body = response.json()
        assert body["type"] == "authentication_error"
        assert [e["code"] for e in body["errors"]] == ["access_token_invalid"]


def test_the_bearer_scheme_is_case_insensitive(server: LiveServer, token: str) -> None:
    assert _get(server, "/v1/identity", {"Authorization": f"bearer {token}"}).status_code == 200


def test_a_viewer_cannot_publish_and_gets_resource_forbidden(
    server: LiveServer, page: PageInfo
) -> None:
    viewer = Raw(server.base_url, make_key(server, "viewer"))
    response = viewer.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "n",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert response.status_code == 403
    body = response.json()
    assert body["type"] == "resource_forbidden"
    assert body["errors"][0]["code"] == "missing_scope"
    assert "status_page_publisher" in body["errors"][0]["message"]
    for method, path in (
        ("PUT", "/v2/status_page_incidents/anything"),
        ("POST", "/v2/status_page_incident_updates"),
    ):
        denied = viewer.request(method, path, json={"name": "n"})
        assert denied.status_code == 403, (method, path)
    listed = viewer.get("/v2/status_page_incidents", params={"status_page_id": page.id})
    assert listed.status_code == 200
    assert viewer.get("/v2/status_pages").status_code == 200
    viewer.close()


def test_a_key_revoked_through_the_cli_is_refused_on_the_very_next_request(
    server: LiveServer,
) -> None:
    name = f"short-lived-{uuid.uuid4().hex[:8]}"  # other tests share this database
    token = run_cli(
        server.settings.database_url, "keys", "create", "--name", name, "--role", "viewer"
    ).stdout.strip()
    raw = Raw(server.base_url, token)
    assert raw.get("/v1/identity").status_code == 200
    listing = run_cli(server.settings.database_url, "keys", "list").stdout
    (line,) = [line for line in listing.splitlines() if name in line]
    key_id = line.split()[0]
    run_cli(server.settings.database_url, "keys", "revoke", key_id)
    response = raw.get("/v1/identity")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "access_token_invalid"
    raw.close()


def _operations(server: LiveServer) -> list[tuple[str, str, dict[str, object]]]:
    """Every API operation of the published document: (method, path template, operation)."""
    document = httpx.get(server.base_url + "/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                found.append((method.upper(), path, operation))
    return found


def test_a_request_without_a_key_is_a_401_whatever_else_is_wrong_with_it(
    server: LiveServer,
) -> None:
    """Authentication comes before any parameter or body is looked at, on every route: a
    request without a key never learns whether its parameters would have been valid."""
    operations = _operations(server)
    assert len(operations) >= 20
    for method, template, operation in operations:
        path = template
        for parameter in operation.get("parameters", []):  # type: ignore[attr-defined]
            if parameter["in"] == "path":
                path = path.replace("{" + parameter["name"] + "}", "%00" * 3)
        bad_query = {
            p["name"]: "\x00not valid\x00" * 50
            for p in operation.get("parameters", [])  # type: ignore[attr-defined]
            if p["in"] == "query"
        }
        for body in (None, b"{not json", b"[]", b'{"unknown": true}'):
            response = httpx.request(
                method,
                server.base_url + path,
                params={**bad_query, "page_size": "-1", "after": ""},
                content=body,
                headers={"Content-Type": "application/json"} if body is not None else {},
            )
            check_response(response)
            assert response.status_code == 401, (method, template, body, response.text)
            assert response.json()["errors"][0]["code"] == "missing_authorization_material"
