"""The webhook address policy: on the URL as entered and, above all, when connecting."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest

from clarion.notifications.ssrf import (
    BlockedAddress,
    GuardedBackend,
    check_url,
    is_blocked,
    parse_literal,
)
from tests.notifications.webhook_receiver import webhook_receiver

BLOCKED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "0.1.2.3",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "2002:c0a8:101::",  # 6to4 around 192.168.1.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "2001:db8::1",
    "2001::1",  # Teredo
    "100::1",
]
ALLOWED = ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"]


@pytest.mark.parametrize("address", BLOCKED)
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
        ("169.254.169.254.", "169.254.169.254"),
    ],
)
def test_decimal_octal_hex_and_short_host_forms_are_read_as_addresses(
    host: str, address: str
) -> None:
    assert parse_literal(host) == ipaddress.ip_address(address)


def test_names_are_not_literals() -> None:
    assert parse_literal("example.com") is None
    assert parse_literal("1.example") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://api.localhost/hook",
        "http://[::1]/hook",
        "http://[::]/hook",
        "http://0.0.0.0/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://10.0.0.5/hook",
    ],
)
def test_urls_naming_private_addresses_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ValueError, match="CLARION_WEBHOOK_ALLOW_PRIVATE"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "example.com/hook",
        "http:///hook",
        "https://user:pass@example.com/hook",
        "http://example.com:99999/hook",
        "https://bücher.example/hook",
        "https://example.com/a b",
    ],
)
def test_urls_that_are_not_plain_http_targets_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_url(url, allow_private=True)


def test_a_public_url_is_accepted() -> None:
    assert check_url(" https://hooks.example.com/x?y=1 ", allow_private=False) == (
        "https://hooks.example.com/x?y=1"
    )


def _resolver_to(*addresses: str):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def _post(backend: GuardedBackend, url: str) -> int:
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("POST", url, content=b"{}")
        return response.status


async def test_a_name_that_resolves_to_loopback_is_refused_when_connecting() -> None:
    with webhook_receiver() as receiver:
        resolver = _resolver_to("127.0.0.1")
        backend = GuardedBackend(allow_private=False, resolver=resolver)
        with pytest.raises(BlockedAddress) as caught:
            await _post(backend, f"http://hooks.example.com:{receiver.port}/hook")
        assert caught.value.address == "127.0.0.1"
        assert resolver.calls == ["hooks.example.com"]
        assert receiver.received() == []


async def test_one_private_address_among_public_ones_refuses_the_connection() -> None:
    backend = GuardedBackend(allow_private=False, resolver=_resolver_to("1.1.1.1", "10.0.0.7"))
    with pytest.raises(BlockedAddress):
        await _post(backend, "http://multi.example.com/hook")


async def test_the_same_name_is_refused_once_it_rebinds_to_a_private_address() -> None:
    answers = [["127.0.0.1"], ["169.254.169.254"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    with webhook_receiver() as receiver:
        allowed = GuardedBackend(allow_private=True, resolver=rebinding)
        assert await _post(allowed, f"http://rebind.example.com:{receiver.port}/") == 200
        guarded = GuardedBackend(allow_private=False, resolver=rebinding)
        with pytest.raises(BlockedAddress):
            await _post(guarded, f"http://rebind.example.com:{receiver.port}/")
        assert len(receiver.received()) == 1


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "169.254.169.254", "2130706433", "0.0.0.0", "[::]"]
)
async def test_literal_private_targets_are_refused_without_resolving(host: str) -> None:
    resolver = _resolver_to("1.1.1.1")
    backend = GuardedBackend(allow_private=False, resolver=resolver)
    with pytest.raises(BlockedAddress):
        await _post(backend, f"http://{host}:9/hook")
    assert resolver.calls == []


async def test_the_real_resolver_refuses_localhost() -> None:
    with pytest.raises(BlockedAddress):
        await _post(GuardedBackend(allow_private=False), "http://localhost:9/hook")


async def test_private_targets_are_reached_when_allowed() -> None:
    with webhook_receiver() as receiver:
        backend = GuardedBackend(allow_private=True, resolver=_resolver_to("127.0.0.1"))
        assert await _post(backend, f"http://receiver.test:{receiver.port}/in") == 200
        assert [r.path for r in receiver.received()] == ["/in"]
        assert receiver.received()[0].headers["host"] == f"receiver.test:{receiver.port}"


async def test_unix_sockets_are_never_used() -> None:
    backend = GuardedBackend(allow_private=True)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_unix_socket("/tmp/x.sock")


class _EverythingToLoopback(httpcore.AsyncNetworkBackend):
    """Stands for a network that sends a public address somewhere private (a transparent
    proxy, a NAT rule): whatever address is asked for, it connects to ``port`` on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
        return await self.inner.connect_tcp("127.0.0.1", self.port, timeout=timeout)


async def test_the_connected_peer_is_checked_as_well_as_the_resolved_addresses() -> None:
    with webhook_receiver() as receiver:
        backend = GuardedBackend(
            allow_private=False,
            resolver=_resolver_to("93.184.216.34"),
            inner=_EverythingToLoopback(receiver.port),
        )
        with pytest.raises(BlockedAddress) as caught:
            await _post(backend, "http://public.example.com/hook")
        assert caught.value.address == "127.0.0.1"
        assert receiver.received() == []
