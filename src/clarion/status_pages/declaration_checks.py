"""The wording of declaration problems, and the checks that span entries.

The cross-entry checks (a key or slug declared twice, a component placed that the file does not
declare, a sub-page inside a sub-page) read the parsed document itself rather than the
validated models, so that they run even where other parts of the file failed the schema: one
report then lists every problem. They look only at values of the right type and leave the rest
to the schema's own errors.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator
from datetime import date
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]


def path_of(loc: Loc) -> str:
    """``("status_pages", 0, "items", 2)`` → ``status_pages[0].items[2]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- wording of schema errors --------------------------------------------------------------


def shown(value: Any) -> str:
    """A value as the YAML file wrote it, for messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def describe_error(error: ErrorDetails, root: type[BaseModel]) -> tuple[str, bool]:
    """A pydantic error in the file's words; and whether it is about the key rather than its
    value (an unknown key)."""
    kind, value = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        model = _model_at(root, tuple(error["loc"][:-1]))
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            return f"unknown key {name!r}; did you mean {close[0]!r}?", True
        return f"unknown key {name!r}; the keys here are {', '.join(allowed)}", True
    if kind == "missing":
        return "is required", False
    if kind == "string_type":
        if value is None:
            return "must not be empty", False
        if isinstance(value, bool):
            return (
                f"must be a string, not {shown(value)} (YAML reads yes, no, on, off, true and"
                " false as booleans): quote it",
                False,
            )
        if isinstance(value, int | float | date):
            return f"must be a string, not {shown(value)}: quote it", False
        return f"must be a string, not {shown(value)}", False
    if kind == "bool_type":
        return f"must be true or false, not {shown(value)}", False
    if kind == "list_type":
        if value is None:
            return "must be a list (write [] for none)", False
        return f"must be a list, not {shown(value)}", False
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of keys to values, not {shown(value)}", False
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, not {shown(value)}", False
    if kind == "string_too_short":
        return "must not be blank", False
    if kind == "string_too_long":
        length = len(value) if isinstance(value, str) else "more"
        return (
            f"must be at most {ctx.get('max_length')} characters (this one has {length})",
            False,
        )
    return str(error["msg"]), False


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc``, if one does."""
    current: Any = root
    for part in loc:
        current = _without_none(current)
        if isinstance(part, int):
            if get_origin(current) is not list:
                return None
            current = get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        else:
            return None
    current = _without_none(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


# -- checks across entries -------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A non-blank string as the schema stores it (stripped); None for anything else."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _mappings(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        for index, entry in enumerate(value):
            if isinstance(entry, dict):
                yield index, entry


class _Page:
    """Walks one page's items: references, things placed twice, nesting."""

    def __init__(self, known: set[str], key_max: int, problems: list[tuple[Loc, str]]) -> None:
        self.known = known
        self.key_max = key_max
        self.problems = problems
        self.seen: dict[str, Loc] = {}

    def claim(self, ident: str, loc: Loc, label: str) -> None:
        if ident in self.seen:
            where = path_of(self.seen[ident])
            self.problems.append((loc, f"{label} is on this page twice (first at {where})"))
        else:
            self.seen[ident] = loc

    def place(self, ref: Any, loc: Loc) -> None:
        if isinstance(ref, dict):
            loc = (*loc, "key")
            ref = ref.get("key")
        key = _text(ref)
        if key is None:
            return
        if key not in self.known:
            self.problems.append(
                (loc, f"names component {key!r}, which this file does not declare under components")
            )
        self.claim(f"component:{key}", loc, f"component {key!r}")

    def walk(self, items: Any, loc: Loc, *, nested: bool) -> None:
        for index, entry in _mappings(items):
            at: Loc = (*loc, index)
            if "component" in entry:
                self.place(entry["component"], (*at, "component"))
            for kind, label in (("group", "group"), ("sub_page", "sub-page")):
                body = entry.get(kind)
                if not isinstance(body, dict):
                    continue
                where: Loc = (*at, kind)
                if kind == "sub_page" and nested:
                    self.problems.append(
                        (
                            where,
                            "sub-pages cannot be nested: a sub-page holds components and groups",
                        )
                    )
                    continue
                self.identify(kind, label, body, where)
                if kind == "group":
                    members = body.get("components")
                    for member, ref in enumerate(members if isinstance(members, list) else []):
                        self.place(ref, (*where, "components", member))
                else:
                    self.walk(body.get("items"), (*where, "items"), nested=True)

    def identify(self, kind: str, label: str, body: dict[str, Any], where: Loc) -> None:
        key, name = _text(body.get("key")), _text(body.get("name"))
        if body.get("key") is not None and key is None:
            return  # the schema reports the bad key
        if key is not None:
            self.claim(f"{kind}:{key}", (*where, "key"), f"{label} key {key!r}")
        elif name is not None and len(name) > self.key_max:
            self.problems.append(
                (
                    (*where, "name"),
                    f"is this {label}'s key too, as it has no key, and a key has at most"
                    f" {self.key_max} characters: give it a shorter key",
                )
            )
        elif name is not None:
            self.claim(
                f"{kind}:{name}", (*where, "name"), f"{label} {name!r} (without a key, by name)"
            )


def cross_entry_problems(data: Any, key_max: int) -> list[tuple[Loc, str]]:
    """Problems that no single entry shows: duplicates, unknown references, nesting."""
    problems: list[tuple[Loc, str]] = []
    if not isinstance(data, dict):
        return problems
    declared: dict[str, Loc] = {}
    for index, entry in _mappings(data.get("components")):
        key = _text(entry.get("key"))
        loc: Loc = ("components", index, "key")
        if key is None:
            continue
        if key in declared:
            first = path_of(declared[key])
            problems.append((loc, f"{key!r} is declared twice (first at {first})"))
        else:
            declared[key] = loc
    slugs: dict[str, Loc] = {}
    domains: dict[str, Loc] = {}
    for index, page in _mappings(data.get("status_pages")):
        slug = _text(page.get("slug"))
        domain = _text(page.get("custom_domain"))
        for value, seen, field in ((slug, slugs, "slug"), (domain, domains, "custom_domain")):
            if value is None:
                continue
            if field == "custom_domain":
                value = value.lower().removesuffix(".")
            loc = ("status_pages", index, field)
            if value in seen:
                problems.append(
                    (loc, f"{value!r} is declared twice (first at {path_of(seen[value])})")
                )
            else:
                seen[value] = loc
        _Page(set(declared), key_max, problems).walk(
            page.get("items"), ("status_pages", index, "items"), nested=False
        )
    return problems
