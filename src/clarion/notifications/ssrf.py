"""Which addresses webhooks may reach, checked on the URL and again when connecting.

A webhook URL is operator input, and its host name is resolved by someone else's DNS: a name
that pointed at a public address when the webhook was added may point at ``127.0.0.1`` or the
cloud metadata service (``169.254.169.254``) when a message is delivered (DNS rebinding). So
the check that matters happens in ``GuardedBackend.connect_tcp``: it resolves the name itself,
refuses the connection if *any* resolved address is not publicly routable, connects to one
of the checked addresses (never resolving again), and checks the connected peer once more.

Refused: private, loopback, link-local, unique-local, site-local, shared (CGNAT), multicast,
reserved, documentation, benchmarking and unspecified ranges, in IPv4 and IPv6, including IPv4
addresses embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64 ``64:ff9b::/96``,
Teredo). ``CLARION_WEBHOOK_ALLOW_PRIVATE`` (``allow_private=True``) turns the policy off,
for receivers on a private network or on loopback in tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)`` → every address the name resolves to, as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class BlockedAddress(httpcore.ConnectError):
    """The target resolved to an address webhooks may not reach.

    A ``ConnectError`` so transport code treats it as a failed connection; the delivery
    code tells it apart and reports it as a permanent failure.
    """

    def __init__(self, host: str, address: str) -> None:
        super().__init__(
            f"{host} resolves to {address}, a private or reserved address "
            "(set CLARION_WEBHOOK_ALLOW_PRIVATE to allow it)"
        )
        self.host = host
        self.address = address


def is_blocked(address: IPAddress) -> bool:
    """Whether ``address`` is outside the publicly routable unicast space."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_blocked(embedded)
        if address in _NAT64_LOCAL or address.is_site_local:
            return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        # (server, client): a Teredo address is blocked if the client behind it is.
        return address.teredo[1]
    return None


def parse_literal(host: str) -> IPAddress | None:
    """The address a literal host names, in any form the resolver would accept.

    Besides dotted quads and IPv6 (with or without brackets or a zone), this accepts the
    legacy ``inet_aton`` forms a resolver turns into addresses: ``2130706433``,
    ``0x7f.1``, ``0177.0.0.1``, ``127.1``. Returns ``None`` for a name.
    """
    text = host.strip().strip("[]").rstrip(".")
    if "%" in text:
        text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(part and _is_number(part) for part in text.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _is_number(part: str) -> bool:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return all(c in "0123456789abcdef" for c in lowered[2:])
    return lowered.isdigit()


def check_url(url: str, *, allow_private: bool) -> str:
    """Validate a webhook URL as entered; return it normalised (stripped).

    Raises ``ValueError`` with a reader-facing message when the URL is not plain ASCII, the
    scheme is not http(s), the host is missing, it carries credentials, or (unless
    ``allow_private``) the host is a literal non-public address or ``localhost``. Names are
    checked again, on every connection, at delivery.
    """
    value = url.strip()
    if not value.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(
            "the URL must be ASCII without spaces: write international host names in their "
            "xn-- form and percent-encode the rest"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise ValueError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not contain credentials")
    if port == 0:
        raise ValueError("the URL's port must not be 0")
    if allow_private:
        return value
    literal = parse_literal(host)
    if literal is not None and is_blocked(literal):
        raise ValueError(
            f"{host} is a private or reserved address "
            "(set CLARION_WEBHOOK_ALLOW_PRIVATE to allow it)"
        )
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise ValueError(
            f"{host} is a loopback name (set CLARION_WEBHOOK_ALLOW_PRIVATE to allow it)"
        )
    return value


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (both families), through the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only connects to addresses the policy allows.

    Contract of ``connect_tcp``: resolve ``host`` once with ``resolver``; unless
    ``allow_private``, raise ``BlockedAddress`` if any resolved address is blocked; try the
    addresses in order until one connects; then check the connected peer address as well.
    TLS still verifies the certificate against the original host name (httpcore passes it
    to ``start_tls`` as the server name), so connecting by address changes nothing there.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        if not addresses:
            raise httpcore.ConnectError(f"{host} did not resolve to any address")
        if not self.allow_private:
            for address in addresses:
                if is_blocked(ipaddress.ip_address(address)):
                    raise BlockedAddress(host, address)
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                last_error = exc
                continue
            self._check_peer(host, stream)
            return stream
        assert last_error is not None
        raise last_error

    def _check_peer(self, host: str, stream: httpcore.AsyncNetworkStream) -> None:
        if self.allow_private:
            return
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        if is_blocked(address):
            raise BlockedAddress(host, str(address))

    async def _resolve(self, host: str, port: int, limit: float | None) -> list[str]:
        literal = parse_literal(host)
        if literal is not None:
            # Decided here, as the resolver would: ``2130706433`` is 127.0.0.1.
            return [str(literal)]
        try:
            found = await asyncio.wait_for(self.resolver(host, port), limit)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        return [str(ipaddress.ip_address(a.split("%", 1)[0])) for a in found]

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
