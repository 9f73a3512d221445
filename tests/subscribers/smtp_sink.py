"""A real SMTP server (aiosmtpd) on loopback that records what it accepts.

``delay`` slows every DATA reply (to catch a worker mid-delivery); a message counts as
accepted only if the client is still connected when the reply is due, as with a real server
(a client that dies before the ``250`` never learns the message was taken). ``refuse`` maps an
address to an SMTP reply code for RCPT.

TLS and AUTH, through ``smtp_sink``: ``implicit_tls`` (a server-side ``SSLContext``) makes it an
``smtps://`` server, ``starttls`` one that offers STARTTLS (``require_starttls`` refuses mail
before it). ``credentials`` (user -> password) makes AUTH required before MAIL; AUTH is offered
even before STARTTLS, as a careless server might, so a test sees whether the *client* keeps the
password off a clear connection. Every attempt is recorded in ``logins``, and each message
records whether it came over TLS.
"""

from __future__ import annotations

import asyncio
import email
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.harness import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    message: EmailMessage
    over_tls: bool = False

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())


@dataclass(frozen=True)
class Login:
    username: str
    accepted: bool
    over_tls: bool


def _over_tls(server: Any) -> bool:
    transport = getattr(server, "transport", None)
    return transport is not None and transport.get_extra_info("ssl_object") is not None


@dataclass
class SmtpSink:
    port: int
    delay: float = 0.0
    refuse: dict[str, int] = field(default_factory=dict)
    down: bool = False  # answer 421 to every RCPT (a broken server)
    scheme: str = "smtp"
    credentials: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_to]

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError("timed out waiting for mail")

    # aiosmtpd handler hooks
    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username = auth_data.login.decode()
        accepted = self.credentials.get(username) == auth_data.password.decode()
        with self.lock:
            self.logins.append(Login(username, accepted, _over_tls(server)))
        return AuthResult(success=accepted, handled=False)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.credentials and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.down:
            return "421 Service not available"
        code = self.refuse.get(address)
        if code is not None:
            return f"{code} Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        transport = getattr(server, "transport", None)
        if transport is None or transport.is_closing():
            return "451 Client went away"
        message = email.message_from_bytes(envelope.original_content, policy=default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, _over_tls(server))
            )
        return "250 Message accepted"


@contextmanager
def smtp_sink(
    *,
    implicit_tls: ssl.SSLContext | None = None,
    starttls: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    smtputf8: bool = False,
    **options: Any,
) -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port(), scheme="smtps" if implicit_tls else "smtp", **options)
    server_options: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
    if implicit_tls is not None:
        server_options["ssl_context"] = implicit_tls
    if starttls is not None:
        server_options.update(tls_context=starttls, require_starttls=require_starttls)
    if sink.credentials:
        server_options.update(authenticator=sink.authenticate, auth_require_tls=False)
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **server_options)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
