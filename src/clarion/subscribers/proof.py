"""The subscribe form's optional proof of work (``CLARION_SUBSCRIBE_PROOF_OF_WORK_BITS``).

Self-hosted, with no third-party service: the form's browser must find a number ``n`` such
that SHA-256 of ``"<form token>:<n>"`` starts with that many zero bits (the form's script,
``static/subscribe.js``, does it while the reader types). Each form token is a new puzzle, and
a token serves only a few addresses (``abuse``), so every batch of requests costs its sender
that work again. With the setting at 0 (the default) the form asks for nothing and needs no
JavaScript.
"""

from __future__ import annotations

import hashlib

#: The longest answer accepted (a decimal number).
MAX_ANSWER = 12


def zero_bits(digest: bytes) -> int:
    """How many leading bits of ``digest`` are zero."""
    count = 0
    for byte in digest:
        if byte:
            return count + 8 - byte.bit_length()
        count += 8
    return count


def solved(form_token: str, answer: str, bits: int) -> bool:
    """Whether ``answer`` solves the puzzle of ``form_token`` at ``bits`` (always, at 0)."""
    if bits <= 0:
        return True
    if not answer.isdecimal() or len(answer) > MAX_ANSWER:
        return False
    return zero_bits(hashlib.sha256(f"{form_token}:{answer}".encode()).digest()) >= bits
