"""The code blocks of the README and docs/*.md, and how their shown output is compared with a
real one "in substance".

A block may carry a marker: an HTML comment on the last non-blank line before its opening
fence, ``<!-- docs-test: skip (why it is not run) -->``. Markdown renders it as nothing.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<text>.*?)\s*-->\s*$")
SKIP = re.compile(r"^skip \((?P<reason>.+)\)$")


@dataclass(frozen=True)
class Block:
    doc: str  # path from the project's root, e.g. "docs/apply.md"
    line: int  # 1-based line of the opening fence
    info: str  # the fence's language ("" when it has none)
    text: str
    marker: str | None  # the marker's text, e.g. "skip (a diagram)"

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""

    @property
    def skip_reason(self) -> str | None:
        match = SKIP.match(self.marker or "")
        return match["reason"].strip() if match else None

    def __str__(self) -> str:
        return f"{self.doc}:{self.line} ({self.info or 'no language'})"


def documents() -> list[str]:
    """The user documentation: README.md and every docs/*.md."""
    return ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]


def blocks_of(doc: str) -> list[Block]:
    source = (ROOT / doc).read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for token in MarkdownIt().parse(source):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        start = token.map[0]
        before = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        match = MARKER.match(before)
        found.append(
            Block(
                doc, start + 1, token.info.strip(), token.content, match["text"] if match else None
            )
        )
    return found


# -- shell blocks -------------------------------------------------------------------------


@dataclass
class Step:
    """One command of a shell block, and the output the block shows for it (``# …`` lines after
    a ``sh`` command, or the lines after a ``$ …`` line of a ``console`` block)."""

    command: str
    shown: list[str] = field(default_factory=list)


def sh_steps(text: str) -> list[Step]:
    steps: list[Step] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            pending += "\n" + raw
            if not line.endswith("\\"):
                steps.append(Step(pending))
                pending = ""
        elif not line:
            continue
        elif line.startswith("#"):
            if steps:
                steps[-1].shown.append(line[1:].removeprefix(" "))
        elif line.endswith("\\"):
            pending = raw
        else:
            steps.append(Step(raw))
    assert not pending, f"a command continues past the block's end: {pending!r}"
    return steps


def console_steps(text: str) -> list[Step]:
    steps: list[Step] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif line.strip():
            assert steps, f"output before the first command: {line!r}"
            steps[-1].shown.append(line)
    return steps


def is_synopsis(block: Block) -> bool:
    """A block without a language whose every line is a ``clarion …`` usage line."""
    lines = [line for line in block.text.splitlines() if line.strip()]
    return block.info == "" and bool(lines) and all(line.startswith("clarion ") for line in lines)


def synopsis_parts(line: str) -> tuple[list[str], list[str], list[str]]:
    """(subcommand words, ``--options`` named, choices named as ``a|b|c``) of a usage line."""
    words = shlex.split(line.replace("…", ""))[1:]
    command: list[str] = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        command.append(word)
    options = re.findall(r"(?<![\w-])--[a-z][a-z-]*", line)
    choices = [
        choice
        for group in re.findall(r"\b[a-z]+(?:\|[a-z]+)+\b", line)
        for choice in group.split("|")
    ]
    return command, options, choices


# -- comparing shown output with real output ----------------------------------------------

ULID_LIKE = re.compile(r"^[0-9A-Z]{26}$")
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DECIMAL = re.compile(r"^\d+\.\d+$")
URL = re.compile(r"^https?://\S+$")


def _shape_of_timestamp(value: str) -> str:
    """A timestamp's format: digits as 0, the offset as Z or ±00:00."""
    return re.sub(r"[+-]\d{2}:\d{2}$", "+00:00", re.sub(r"\d", "0", value))


def same_shape(
    shown: Any, real: Any, path: str = "", loose: frozenset[str] = frozenset()
) -> list[str]:
    """Where ``real`` differs in substance from the ``shown`` JSON example (empty: nowhere).

    Objects have the same keys (a shown key ``"…"`` allows more). A list is compared item by
    item, its last shown item standing for the rest; it may not be shorter than shown. Strings
    that are ids (also elided, ``"01J…"``), UUIDs, timestamps (same format), decimals (same
    number of decimals) or URLs need only be of the same kind, and one with "…" must start with
    what comes before it; other values are equal. Values at the JSON paths in ``loose`` need
    only have the same type.
    """
    here = path or "/"
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return [f"{here}: an object in the docs, {real!r} in reality"]
        problems = []
        keys = [k for k in shown if k != "…"]
        missing = [k for k in keys if k not in real]
        if missing:
            problems.append(f"{here}: the docs show {missing}, which the real answer lacks")
        if "…" not in shown:
            extra = [k for k in real if k not in shown]
            if extra:
                problems.append(f"{here}: the real answer also has {extra}, which the docs omit")
        for key in keys:
            if key in real:
                problems += same_shape(shown[key], real[key], f"{path}/{key}", loose)
        return problems
    if isinstance(shown, list):
        if not isinstance(real, list):
            return [f"{here}: a list in the docs, {real!r} in reality"]
        if len(real) < len(shown):
            return [f"{here}: the docs show {len(shown)} items, the real answer has {len(real)}"]
        problems = []
        for index, item in enumerate(real):
            if shown:
                template = shown[min(index, len(shown) - 1)]
                problems += same_shape(template, item, f"{path}/{index}", loose)
        return problems
    if path in loose:
        return [] if type(shown) is type(real) else [f"{here}: {shown!r} vs {real!r}"]
    if isinstance(shown, str) and isinstance(real, str):
        for kind in (ULID_LIKE, UUID, DECIMAL, URL):
            if kind.match(shown):
                target = ULID if kind is ULID_LIKE else kind
                ok = bool(target.match(real))
                if kind is DECIMAL and ok:
                    ok = len(shown.split(".")[1]) == len(real.split(".")[1])
                return [] if ok else [f"{here}: {real!r} is not like {shown!r}"]
        if TIMESTAMP.match(shown):
            ok = bool(TIMESTAMP.match(real)) and (
                _shape_of_timestamp(shown) == _shape_of_timestamp(real)
            )
            return [] if ok else [f"{here}: {real!r} is not a timestamp like {shown!r}"]
        if re.fullmatch(r"[0-9A-Z]+…", shown):  # an id, elided
            return [] if ULID.match(real) else [f"{here}: {real!r} is not an id"]
        if "…" in shown:
            prefix = shown.split("…", 1)[0]
            return [] if real.startswith(prefix) else [f"{here}: {real!r} is not {shown!r}"]
    if shown != real or type(shown) is not type(real):
        return [f"{here}: the docs show {shown!r}, the real answer has {real!r}"]
    return []


def json_shown(lines: list[str]) -> Any | None:
    """The JSON a block shows as its output, or None when it shows no JSON."""
    text = "\n".join(lines).strip()
    if not text.startswith(("{", "[")):
        return None
    return json.loads(text)


def line_pattern(shown: str) -> re.Pattern[str]:
    """A shown output line as a pattern: numbers, ids and secrets may differ."""
    pattern = ""
    for token in re.split(r"(\s+)", shown.strip()):
        if re.fullmatch(r"[0-9A-Z]{26}", token):
            pattern += r"[0-9A-HJKMNP-TV-Z]{26}"
        elif match := re.fullmatch(r"([a-z]+_)([A-Za-z0-9+/]{20,}=*)", token):
            pattern += re.escape(match[1]) + r"[A-Za-z0-9+/]{20,}=*"
        elif token.isspace():
            pattern += r"\s+"
        else:
            pattern += re.sub(r"\d+(\\\.\d+)?", r"\\d+(\\.\\d+)?", re.escape(token))
    return re.compile(pattern)


def split_annotation(line: str) -> tuple[str, str | None]:
    """A console output line and its stream, from a trailing ``# on stderr`` / ``# on stdout``."""
    match = re.match(r"^(?P<text>.*?)\s+#\s*on (?P<stream>stdout|stderr)\b.*$", line)
    if match:
        return match["text"], match["stream"]
    return line, None
