"""Limits on the anonymous subscribe form, so that it cannot be used to send mail for anyone.

A request for a subscription is checked, in this order, before anything is written:

1. The address is valid (``valid_address``: ``email-validator``'s syntax and IDNA rules; an
   internationalised local part only with ``CLARION_SMTP_UTF8``, when the relay speaks
   SMTPUTF8).
2. The form token has been used for at most ``CLARION_SUBSCRIBE_ADDRESSES_PER_FORM``
   different addresses (a reloaded form gets a new token).
3. The client address (as the proxy headers from ``CLARION_FORWARDED_ALLOW_IPS`` give it) has
   asked for at most ``CLARION_SUBSCRIBE_PER_CLIENT_PER_HOUR`` subscriptions in the last hour,
   on every page together.
4. The whole instance has had at most ``CLARION_SUBSCRIBE_PER_HOUR`` requests in the last
   hour.
5. The mailbox (``mailbox_key``: one budget for every spelling of one mailbox) has asked for
   at most ``CLARION_SUBSCRIBE_PER_MAILBOX_PER_DAY`` in the last day, on every page together.

Refusals 2 to 4 are told to the person at the form (try again later); a mailbox over its
budget gets the usual "check your inbox" answer and no e-mail, so the form never says
whether an address asked before. Each budget is a token bucket of the rate limiter the API
uses (in the process, shared by ``serve --workers``, or in Redis for replicas), so it refills
smoothly rather than at fixed times.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from clarion.context import AppContext
from clarion.settings import Settings
from clarion.subscribers.addresses import mailbox_key

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused before anything is sent: shown on the form, with the status."""

    status: int
    title: str
    text: str


TOO_MANY_FROM_CLIENT = Refusal(
    429,
    "Too many requests",
    "Too many subscriptions were requested from your network recently. Try again in an hour.",
)
TOO_MANY_OVERALL = Refusal(
    429,
    "Too many requests",
    "This site has had too many subscription requests recently. Try again in an hour.",
)
FORM_USED_UP = Refusal(
    403,
    "Please reload the form",
    "This form has been used for several addresses already. Reload it to subscribe another.",
)


def client_key(host: str) -> str:
    """The client a budget belongs to: its IPv4 address, or its IPv6 /64 network (one
    subscriber line usually holds a whole /64)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(value: str) -> str:
    """Bucket names never hold an address or a token in clear."""
    return hashlib.blake2b(value.encode(), digest_size=16).hexdigest()


async def _spend(ctx: AppContext, bucket: str, capacity: int, per_seconds: float) -> bool:
    if capacity <= 0:
        return True  # this budget is turned off
    decision = await ctx.rate_limiter.take(
        f"subscribe:{bucket}", capacity, capacity / per_seconds, ctx.clock.now().timestamp()
    )
    return decision.allowed


async def refusal(
    ctx: AppContext, form_token: str, client: str | None, address: str
) -> Refusal | None:
    """Spend one token of each budget (see the module), in order; the refusal of the first
    that is empty, None when every one allows the request. A mailbox over its budget is not a
    refusal: ``mailbox_allows`` says so separately."""
    settings: Settings = ctx.settings
    uses = settings.subscribe_addresses_per_form
    # Only a new address spends one of the form's uses (a double-click does not). A form
    # token lives a day, and its uses refill over a day: at most twice as many in all.
    form = _digest(form_token)
    new_address = await _spend(ctx, f"form:{form}:{_digest(address)}", 1, DAY)
    if new_address and not await _spend(ctx, "form:" + form, uses, DAY):
        return FORM_USED_UP
    if client and not await _spend(
        ctx, "client:" + _digest(client_key(client)), settings.subscribe_per_client_per_hour, HOUR
    ):
        return TOO_MANY_FROM_CLIENT
    if not await _spend(ctx, "all", settings.subscribe_per_hour, HOUR):
        return TOO_MANY_OVERALL
    return None


async def mailbox_allows(ctx: AppContext, address: str) -> bool:
    """Whether the mailbox of ``address`` may get another confirmation e-mail today (one token
    of its budget is spent)."""
    key = "mailbox:" + _digest(mailbox_key(address))
    return await _spend(ctx, key, ctx.settings.subscribe_per_mailbox_per_day, DAY)
