"""The e-mail channel: SMTP delivery over a small connection pool, and message rendering.

``CLARION_SMTP_URL`` is ``smtp://[user:password@]host[:port][?starttls=…]`` (STARTTLS: required
when the URL has credentials, else used when the server offers it) or ``smtps://…`` (implicit
TLS, port 465 by default); ``CLARION_SMTP_FROM`` is the sender. Server certificates are verified,
host name included, against the system trust store or ``CLARION_SMTP_CA_FILE``.
Every message has a plain-text and an HTML part (what they say: ``email_content``), a one-click
unsubscribe link (also as ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers, RFC 8058)
and a preferences link.
The ``Message-ID`` is derived from the outbox row, so a receiver can spot a repeat.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import aiosmtplib
from jinja2 import Environment, PackageLoader, select_autoescape

from clarion.context import AppContext
from clarion.notifications.email_content import content, time_html
from clarion.notifications.models import OutboxMessage
from clarion.notifications.outbox import (
    LeaseCheck,
    PermanentFailure,
    RelayUnavailable,
    TemporaryFailure,
    no_lease_check,
)
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url
from clarion.subscribers.models import Subscription
from clarion.subscribers.tokens import CONFIRM, MANAGE, make_token, signing_key
from clarion.text import one_line

# -- SMTP ------------------------------------------------------------------------------------


StartTls = Literal["required", "opportunistic", "never"]
STARTTLS_MODES: tuple[StartTls, ...] = ("required", "opportunistic", "never")


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None = field(repr=False)
    #: For ``smtp://``: whether the connection must be upgraded with STARTTLS (``required``),
    #: is upgraded when the server offers it (``opportunistic``) or never is. ``never`` for
    #: ``smtps://``, which is TLS from the first byte.
    starttls: StartTls


class SmtpSetupError(Exception):
    """The SMTP session cannot go on as configured (e.g. no STARTTLS where it is required)."""


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:password@]host[:port][?starttls=required|opportunistic|never]`` or
    ``smtps://[user:password@]host[:port]``; raises ``ValueError`` (whose text never repeats
    the URL, which may hold a password).

    STARTTLS defaults to ``required`` when the URL has credentials (the password is never sent
    in clear unless the URL says so) and to ``opportunistic`` otherwise.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("CLARION_SMTP_URL must look like smtp://[user:password@]host:port")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("CLARION_SMTP_URL has an invalid port") from None
    implicit = parts.scheme == "smtps"
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"starttls"})
    if unknown:
        raise ValueError(f"CLARION_SMTP_URL has an unknown option: {unknown[0][:40]!r}")
    username = unquote(parts.username) if parts.username else None
    starttls: StartTls = "required" if username is not None else "opportunistic"
    if "starttls" in query:
        if implicit:
            raise ValueError("CLARION_SMTP_URL: starttls= applies to smtp:// only, not smtps://")
        value = query["starttls"][-1]
        if value not in STARTTLS_MODES:
            raise ValueError("CLARION_SMTP_URL: starttls= must be required, opportunistic or never")
        starttls = value
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        implicit_tls=implicit,
        username=username,
        password=unquote(parts.password) if parts.password else None,
        starttls="never" if implicit else starttls,
    )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifies the server's certificate and host name against ``ca_file`` (a PEM bundle)
    when given, else against the system's trust store; TLS 1.2 or later."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SmtpPool:
    """Up to ``size`` open SMTP connections shared by concurrent deliveries."""

    def __init__(
        self, target: SmtpTarget, size: int, timeout: float, tls: ssl.SSLContext | None = None
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.tls = tls or tls_context(None)
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(max(1, size))

    async def _connect(self) -> aiosmtplib.SMTP:
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            use_tls=t.implicit_tls,
            start_tls=False,  # decided below, after EHLO
            tls_context=self.tls,
            timeout=self.timeout,
        )
        await client.connect()
        try:
            if t.starttls != "never":
                await _greet(client)  # after HELO (no ESMTP), no STARTTLS either
                if client.supports_extension("starttls"):
                    await client.starttls()
                elif t.starttls == "required":
                    raise SmtpSetupError(
                        "the SMTP server does not offer STARTTLS"
                        + (", so the password was not sent" if t.username is not None else "")
                        + " (CLARION_SMTP_URL: use smtps:// or fix the server; ?starttls="
                        "opportunistic allows a connection without TLS)"
                    )
            if t.username is not None:
                await client.login(t.username, t.password or "")
        except BaseException:
            await _quit(client)
            raise
        return client

    async def send(
        self, message: bytes, sender: str, recipient: str, lease: LeaseCheck = no_lease_check
    ) -> None:
        """Send one message; ``lease()`` (which raises to stop the send) is called once a
        connection is ready, and again once the envelope is accepted, right before ``DATA``:
        a worker paused before the second, past its lease, sends nothing when it resumes.
        What is left is one round trip: aiosmtplib's ``data`` sends ``DATA`` and writes the
        message as soon as the 354 arrives, with no public step in between."""
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            if client is not None and not client.is_connected:
                client = None
            if client is None:
                client = await self._connect()
            try:
                lease()
            except BaseException:
                self._idle.append(client)
                raise
            lost: BaseException | None = None
            try:
                await _envelope(client, sender, recipient)
                try:
                    lease()
                except BaseException as exc:
                    lost = exc
                else:
                    await client.data(message)
            except aiosmtplib.SMTPResponseException:
                # The session is still usable after a refused message; keep it.
                await _reset(client)
                self._idle.append(client)
                raise
            except BaseException:
                await _quit(client)
                raise
            if lost is not None:
                await _reset(client)  # the envelope goes; the connection stays usable
                if client.is_connected:
                    self._idle.append(client)
                raise lost
            self._idle.append(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)


async def _envelope(client: aiosmtplib.SMTP, sender: str, recipient: str) -> None:
    """``MAIL FROM`` and ``RCPT TO`` for one recipient, as ``aiosmtplib``'s ``sendmail``
    sends them (after EHLO, SMTPUTF8 only where the server offers it), so that the lease can
    be checked once more before ``DATA``. A refused recipient raises ``SMTPRecipientsRefused``
    as ``sendmail`` does (the pool then closes the connection)."""
    options = _options(recipient)
    if client.is_ehlo_or_helo_needed:
        await _greet(client)
    if options and not client.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
    encoding = "utf-8" if options else "ascii"
    await client.mail(sender, options=options, encoding=encoding)
    try:
        await client.rcpt(recipient, encoding=encoding)
    except aiosmtplib.SMTPRecipientRefused as refused:
        raise aiosmtplib.SMTPRecipientsRefused([refused]) from None


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO when the server does not speak ESMTP."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        await client.helo()


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except Exception:
        await _quit(client)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except Exception:
        client.close()


def _pool(ctx: AppContext) -> SmtpPool:
    pool = ctx.channels.smtp_pool
    if pool is not None:
        return pool
    if not ctx.settings.smtp_url:
        raise _ours("SMTP is not configured (CLARION_SMTP_URL)")
    try:
        target = parse_smtp_url(ctx.settings.smtp_url)
    except ValueError as exc:
        raise _ours(str(exc)) from None
    try:
        tls = tls_context(ctx.settings.smtp_ca_file)
    except OSError as exc:  # ssl.SSLError too: not PEM, no certificate in it
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise _ours(f"CLARION_SMTP_CA_FILE could not be loaded: {reason}") from None
    pool = SmtpPool(target, ctx.settings.smtp_pool_size, ctx.settings.smtp_timeout_seconds, tls)
    ctx.channels.smtp_pool = pool
    return pool


def _ours(message: str) -> RelayUnavailable:
    """A failure of Clarion's own mail setup or relay: the message waits for it, and it is
    never held against the subscriber."""
    return RelayUnavailable(message)


async def deliver(
    ctx: AppContext,
    row: OutboxMessage,
    subscription: Subscription,
    lease: LeaseCheck = no_lease_check,
) -> None:
    """Send one outbox row as e-mail.

    A 5xx refusal of the recipient (RCPT) or of the message (DATA) is permanent and the
    subscriber's. A 4xx refusal is temporary and no one's fault: the message waits and is
    tried again. Anything that makes the relay itself unusable (cannot connect, a timeout, TLS,
    authentication, 421 "service not available", the sender or a command refused) is
    ``RelayUnavailable``: the e-mail lane pauses and the message waits for the relay.
    """
    if not subscription.email:
        raise PermanentFailure("the subscription has no e-mail address")
    page = await _page(ctx, subscription.status_page_id)
    if page is None:
        raise PermanentFailure("the status page no longer exists")
    key = await signing_key(ctx)
    message = build_message(ctx, row, subscription, page, key)
    sender = parseaddr(ctx.settings.smtp_from)[1] or ctx.settings.smtp_from
    try:
        await _pool(ctx).send(message, sender, subscription.email, lease)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = f"recipient refused ({', '.join(str(c) for c in codes)})"
        if codes and all(c >= 500 for c in codes):
            raise PermanentFailure(text) from None
        if 421 in codes:
            raise _ours(text) from None
        raise TemporaryFailure(text, attempts_limited=False) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise _ours(f"SMTP authentication failed ({exc.code})") from None
    except aiosmtplib.SMTPDataError as exc:
        text = f"SMTP {exc.code} for the message: {exc.message[:200]}"
        if exc.code >= 500:
            raise PermanentFailure(text) from None
        if exc.code == 421:
            raise _ours(text) from None
        raise TemporaryFailure(text, attempts_limited=False) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise _ours(f"SMTP {exc.code}: {exc.message[:200]}") from None
    except SmtpSetupError as exc:
        raise _ours(str(exc)) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise _ours(_connection_failure(exc)) from None


def _connection_failure(exc: BaseException) -> str:
    """What went wrong below SMTP, in words an operator can act on (a TLS failure names the
    certificate problem). Never the URL or credentials: only exception types and TLS reasons."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            detail = seen.verify_message or seen.reason or "verification failed"
            return (
                f"SMTP server certificate not trusted: {detail} "
                "(the host name in CLARION_SMTP_URL must match the certificate, issued by a CA "
                "in the system trust store or in CLARION_SMTP_CA_FILE)"
            )
        if isinstance(seen, ssl.SSLError):
            return f"TLS with the SMTP server failed: {seen.reason or type(seen).__name__}"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, aiosmtplib.SMTPException) and not isinstance(
        exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected
    ):
        return f"SMTP connection failed: {type(exc).__name__}: {exc.message[:200]}"
    return f"SMTP connection failed: {type(exc).__name__}"


PAGE_CACHE_SECONDS = 60.0


async def _page(ctx: AppContext, page_id: str) -> StatusPage | None:
    """The page (for its name and slug), cached for a minute; one read however many
    deliveries ask at once (a fan-out starts dozens together)."""
    cache = ctx.channels.email_pages
    lock = ctx.channels.email_pages_lock
    now = asyncio.get_running_loop().time()
    found = cache.get(page_id)
    if found is not None and now - found[0] < PAGE_CACHE_SECONDS:
        return found[1]
    async with lock:
        found = cache.get(page_id)
        if found is not None and now - found[0] < PAGE_CACHE_SECONDS:
            return found[1]
        async with ctx.db.read() as session:
            page = await session.get(StatusPage, page_id)
        if len(cache) > 1000:
            cache.clear()
        cache[page_id] = (now, page)
    return page


# -- rendering -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("clarion.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["time_html"] = time_html
    return env


def links(
    ctx: AppContext, page: StatusPage, subscription: Subscription, key: bytes
) -> dict[str, str]:
    """Absolute URLs for the page (its public address, own domain included), unsubscribing,
    preferences and confirming (served under the base URL)."""
    now = ctx.clock.now()
    base = f"{ctx.settings.base_url}/{page.slug}"
    manage = urlencode({"token": make_token(key, MANAGE, subscription.id, now)})
    confirm = urlencode({"token": make_token(key, CONFIRM, subscription.id, now)})
    return {
        "page": public_url(page, ctx.settings),
        "unsubscribe": f"{base}/unsubscribe?{manage}",
        "preferences": f"{base}/preferences?{manage}",
        "confirm": f"{base}/subscribe/confirm?{confirm}",
    }


def _header(value: str) -> str:
    """``value`` on one line as a header value: plain when ASCII, RFC 2047 encoded otherwise."""
    value = _one_line(value)[:900]
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_message(
    ctx: AppContext, row: OutboxMessage, subscription: Subscription, page: StatusPage, key: bytes
) -> bytes:
    """The whole e-mail for ``row`` (headers, text part, HTML part) as the bytes to send.

    Assembled directly rather than through ``email.message``: its header folding and
    boundary search made message building the bottleneck of a large fan-out. Every header
    value goes through ``_header`` (one line, RFC 2047 when not ASCII), addresses were
    validated when stored, the boundary contains ``=_`` (never in base64), and both parts are
    base64 so no line is too long.
    """
    urls = links(ctx, page, subscription, key)
    values = dict(_content_cached(ctx, row, page))
    if "path" in values:
        urls["permalink"] = f"{urls['page']}/{values['path']}"
    values.update(page_name=page.name, links=urls)
    env = _templates()
    text = env.get_template("email.txt").render(values)
    body = env.get_template("email.html").render(values)
    name, address = parseaddr(ctx.settings.smtp_from)
    domain = address.rpartition("@")[2] or "clarion.invalid"
    sender = formataddr((_header(name), address)) if address else _header(ctx.settings.smtp_from)
    boundary = f"=_clarion_{row.id}"
    headers = [
        ("Subject", _header(values["subject"])),
        ("From", sender),
        ("To", _address(subscription.email or "")),
        ("Date", formatdate(ctx.clock.now().timestamp(), usegmt=True)),
        ("Message-ID", f"<{row.id}.{row.kind}@{domain}>"),
        ("List-Unsubscribe", f"<{urls['unsubscribe']}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("List-Id", f"{_header(page.name)} <{page.slug}.{domain}>"),
        ("Auto-Submitted", "auto-generated"),
        ("X-Clarion-Outbox-Id", row.id),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    parts = [
        head,
        "\r\n",
        _part(boundary, "text/plain", text),
        _part(boundary, "text/html", body),
        f"--{boundary}--\r\n",
    ]
    # ASCII but for a mailbox name beyond ASCII in To (sent with SMTPUTF8, RFC 6532).
    return "".join(parts).encode("utf-8")


def _part(boundary: str, content_type: str, content: str) -> str:
    encoded = base64.encodebytes(content.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    return (
        f"--{boundary}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    )


def _one_line(value: str) -> str:
    return one_line(value)


def _address(value: str) -> str:
    """An address as a header value: as it is (UTF-8 beyond ASCII, RFC 6532: only subscribers
    of an installation whose relay speaks SMTPUTF8 have such addresses)."""
    return _one_line(value)[:900]


def _options(recipient: str) -> list[str]:
    """``MAIL FROM`` options: SMTPUTF8 for a mailbox name beyond ASCII."""
    return [] if recipient.isascii() else ["SMTPUTF8"]


def _content_cached(ctx: AppContext, row: OutboxMessage, page: StatusPage) -> dict[str, Any]:
    """``content`` is the same for every recipient of one event: render its Markdown once."""
    cache = ctx.channels.email_content
    reference = row.dedupe_key.split(":")[1]
    key = (row.kind, row.subject_id, row.update_id or "", page.name, page.time_zone, reference)
    found = cache.get(key)
    if found is None:
        if len(cache) > 256:
            cache.clear()
        found = cache[key] = content(row.kind, row.payload, page.name, page.time_zone)
    return found
