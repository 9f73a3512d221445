"""Shared fixtures: one live Clarion per test session on the configured backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from incident_io import AuthenticatedClient
from playwright.sync_api import Browser

from tests.audit.ledger import report, unaudited
from tests.browser import chromium
from tests.contract.checks import SDK_HTTPX_ARGS, Raw
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server

pytest_plugins = ["tests.sdk_coverage"]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fresh_database(str(tmp_path_factory.mktemp("db"))) as url, live_server(url) as srv:
        yield srv
        # Checked when the session ends: every write any test made has its audit entries.
        missing = unaudited(srv)
        assert not missing, f"written without an audit entry: {report(missing)}"


@pytest.fixture
def token(server: LiveServer) -> str:
    """A fresh key with every role (its own rate-limit bucket)."""
    return make_key(server)


@pytest.fixture
def sdk(server: LiveServer, token: str) -> Iterator[AuthenticatedClient]:
    """incident.io's official SDK pointed at the live server; every response it receives is
    checked for nulls, offset-less timestamps and incomplete error bodies."""
    with AuthenticatedClient(
        base_url=server.base_url,
        token=token,
        raise_on_unexpected_status=True,
        httpx_args=SDK_HTTPX_ARGS,
    ) as client:
        yield client


@pytest.fixture
def raw(server: LiveServer, token: str) -> Iterator[Raw]:
    """Raw HTTP with the ``token`` key; every response is checked like the SDK's."""
    client = Raw(server.base_url, token)
    yield client
    client.close()


@pytest.fixture
def page(server: LiveServer) -> PageInfo:
    return make_page(server, components=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one per test module (skips when it is not installed)."""
    with chromium() as instance:
        yield instance
