"""Text hygiene in one place: which characters Clarion accepts in text, and how it writes text
where a character could break the format or the reader.

- ``text_problem`` says what is wrong with a text field: control characters (Unicode category
  ``Cc``: C0, DEL and C1; a multi-line text may hold tab, line feed and carriage return),
  surrogates, and the noncharacters U+FFFE and U+FFFF, none of which XML 1.0 can carry.
  ``SingleLine`` and ``MultiLine`` are ``str`` types that refuse them (pydantic, code
  ``invalid_value``); the API's request bodies and ``clarion apply``'s YAML use them.
- ``xml_safe`` and ``ical_safe`` are the writers' last defence (data written to the database
  some other way): they replace what the format cannot carry with U+FFFD, so a feed stays
  well-formed whatever is stored.
- ``one_line`` makes a header value of a text (an e-mail subject).
- ``terminal_safe`` escapes what a terminal would act on (control characters, escape
  sequences, bidirectional overrides) for CLI output.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

REPLACEMENT = "\ufffd"
#: Control characters (C0, DEL, C1), surrogates and the two noncharacters XML refuses.
_REFUSED_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_REFUSED_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: What XML 1.0 cannot hold at all (it does hold DEL and C1, which readers accept).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: What an iCalendar TEXT value may not hold (tab and line feed are written, escaped).
_NOT_ICAL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
#: What a terminal acts on: control characters and the bidirectional embeddings, overrides
#: and isolates (which reorder what follows them on the line).
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\\\\]")


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` is refused as a field's value, or None when it is fine."""
    pattern = _REFUSED_MULTI_LINE if multiline else _REFUSED_SINGLE_LINE
    found = pattern.search(text)
    if found is None:
        return None
    return (
        f"must not contain control characters (U+{ord(found.group()):04X} at position "
        f"{found.start()})"
    )


def _single_line(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_value", problem)
    return value


def _multi_line(value: str) -> str:
    problem = text_problem(value, multiline=True)
    if problem is not None:
        raise PydanticCustomError("invalid_value", problem)
    return value


#: The validators of the two kinds of text, for a type that checks other things first.
SINGLE_LINE = AfterValidator(_single_line)
MULTI_LINE = AfterValidator(_multi_line)
SingleLine = Annotated[str, SINGLE_LINE]
"""A one-line text (names, ids, keys): no control character at all."""
MultiLine = Annotated[str, MULTI_LINE]
"""A text of several lines (messages, descriptions): tab, line feed and carriage return allowed."""


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub(REPLACEMENT, text)


def ical_safe(text: str) -> str:
    """``text`` with every character an iCalendar TEXT value cannot carry replaced by U+FFFD
    (line feeds and tabs stay: the writer escapes them)."""
    return _NOT_ICAL.sub(REPLACEMENT, text)


def one_line(text: str) -> str:
    """``text`` on one line for a header or a subject: control characters become spaces, and
    runs of whitespace one space."""
    return " ".join(_REFUSED_SINGLE_LINE.sub(" ", text).split())


def terminal_safe(text: str) -> str:
    """``text`` for a terminal: control characters, bidirectional controls and backslashes
    written as Python-style escapes (``\\x1b``, ``\\u202e``, ``\\\\``), so that what is printed
    is what is stored, and nothing printed can move the cursor, recolour or rewrite the
    screen."""
    return _TERMINAL.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
