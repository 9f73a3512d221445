"""Subscriber e-mail addresses: which are accepted, how they are stored, and which mailbox
each one reaches.

``valid_address`` checks an address with ``email-validator`` (syntax, IDNA; no quoted local
parts, domain literals or display names; reserved domains refused) and gives the form that
is stored and sent to: lower-cased, its domain in ASCII unless the relay speaks SMTPUTF8.
``mailbox_key`` names the mailbox behind an address, for the per-mailbox budget.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS = 320
#: Providers whose mailboxes ignore a ``+tag`` in the local part (sub-addressing).
PLUS_ADDRESSING = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "yandex.ru",
        "yandex.com",
    }
)
#: Providers whose mailboxes also ignore dots in the local part.
DOTS_IGNORED = frozenset({"gmail.com", "googlemail.com"})
#: One mailbox, several domain names.
SAME_MAILBOXES = {"googlemail.com": "gmail.com"}


class AddressRefused(ValueError):
    """The address cannot be subscribed; ``str()`` says why, in words for the form."""


def valid_address(raw: str, *, smtp_utf8: bool, test_domains: bool = False) -> str:
    """The address to store and send to: trimmed, lower-cased, its domain in ASCII (IDNA); a
    mailbox name beyond ASCII only when the relay speaks SMTPUTF8 (``smtp_utf8``). Reserved
    domains (``.invalid``, ``.local``, ``.onion``, ``.test`` …) are refused, ``.test``
    allowed with ``test_domains``. Raises ``AddressRefused``."""
    text = (raw or "").strip()
    if not text:
        raise AddressRefused("Enter an e-mail address.")
    if len(text) > MAX_ADDRESS:
        raise AddressRefused(f"Enter a valid e-mail address of at most {MAX_ADDRESS} characters.")
    try:
        found = validate_email(
            text,
            allow_smtputf8=smtp_utf8,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            test_environment=test_domains,
        )
    except EmailNotValidError as error:
        raise AddressRefused(f"Enter a valid e-mail address. {error}") from None
    # The domain in ASCII (IDNA): every relay can send there.
    return f"{found.local_part}@{found.ascii_domain}".lower()


def mailbox_key(address: str) -> str:
    """The mailbox ``address`` (as ``valid_address`` gives it) delivers to, for its budget:
    the domain's aliases folded (``googlemail.com`` is ``gmail.com``), and for the providers in
    ``PLUS_ADDRESSING`` the ``+tag`` dropped (and for Gmail the dots). Case is already folded:
    Clarion treats every address case-insensitively."""
    local, _, domain = address.rpartition("@")
    domain = SAME_MAILBOXES.get(domain, domain)
    if domain in PLUS_ADDRESSING:
        local = local.split("+", 1)[0]
    if domain in DOTS_IGNORED:
        local = local.replace(".", "")
    return f"{local}@{domain}"
