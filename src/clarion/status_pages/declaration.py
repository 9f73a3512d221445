"""The ``clarion apply`` file: one schema, every problem found at once, each located.

``read_declaration`` parses the YAML text keeping each node's position, validates the whole
document against ``DeclarationSpec`` (pydantic, strict types, unknown keys refused), runs the
checks that span entries (duplicates, references, nesting) on the same document, and either
returns the ``Declaration`` that ``declare.apply_declaration`` makes true or raises one
``DeclarationError`` listing every problem with its path and line. Nothing here touches the
database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from yaml.constructor import SafeConstructor

from clarion.status_pages.declaration_checks import (
    Loc,
    cross_entry_problems,
    describe_error,
    path_of,
)
from clarion.text import MULTI_LINE, SINGLE_LINE

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
#: First path segments Clarion serves itself: a page with one of these slugs could not be
#: reached at ``/<slug>`` (nor can one whose slug starts with ``openapi``).
RESERVED_SLUGS = (
    "admin",
    "api",
    "assets",
    "healthz",
    "openapi.json",
    "preferences",
    "readyz",
    "static",
    "subscribe",
    "subscriptions",
    "unsubscribe",
    "v1",
    "v2",
)
HOST_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
#: Structure items are stored under ``<kind>:<key>`` in 200 characters.
KEY_MAX = 190

# Texts refuse control characters (``clarion.text``), as the API does.
Key = Annotated[str, StringConstraints(min_length=1, max_length=KEY_MAX), SINGLE_LINE]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), SINGLE_LINE]
Description = Annotated[str, StringConstraints(max_length=4096), MULTI_LINE]


class Strict(BaseModel):
    """Unknown keys are errors; a number is not a string, ``"yes"`` is not a boolean."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class ComponentSpec(Strict):
    key: Key
    name: Name | None = None
    description: Description | None = None


class ComponentRef(Strict):
    """A component placed on a page: its key alone, or a mapping with display options."""

    key: Key
    hidden: bool = False
    display_uptime: bool = True

    @model_validator(mode="before")
    @classmethod
    def from_key(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"key": value}
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "component_ref",
                "must be a component key or a mapping such as {key: api, hidden: true}",
            )
        return value


class ContainerSpec(Strict):
    """What groups and sub-pages share; without ``key``, the name is the key."""

    name: Name
    key: Key | None = None
    description: Description | None = None
    hidden: bool = False
    display_aggregated_uptime: bool = False


class GroupSpec(ContainerSpec):
    components: list[ComponentRef]


class SubPageSpec(ContainerSpec):
    items: list[ItemSpec]


class ItemSpec(Strict):
    """One entry of a structure: exactly one of ``component``, ``group``, ``sub_page``."""

    component: ComponentRef | None = None
    group: GroupSpec | None = None
    sub_page: SubPageSpec | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> ItemSpec:
        if [self.component, self.group, self.sub_page].count(None) != 2:
            raise PydanticCustomError(
                "item_kind", "must have exactly one of the keys component, group, sub_page"
            )
        return self


class PageSpec(Strict):
    slug: str
    name: Name | None = None
    description: Description | None = None
    display_uptime_mode: Literal["chart_and_percentage", "chart_only", "nothing"] = (
        "chart_and_percentage"
    )
    custom_domain: str | None = None
    time_zone: str = "Etc/UTC"
    #: Absent: the page's structure is left as it is. ``[]``: the page shows nothing.
    items: list[ItemSpec] | None = None

    @field_validator("slug")
    @classmethod
    def valid_slug(cls, slug: str) -> str:
        if not SLUG_RE.match(slug):
            raise PydanticCustomError(
                "slug",
                "{slug} is not a slug: lowercase letters, digits and dashes, starting and"
                " ending with a letter or digit, at most 100 characters",
                {"slug": repr(slug)},
            )
        if slug in RESERVED_SLUGS or slug.startswith("openapi"):
            raise PydanticCustomError(
                "reserved_slug",
                "{slug} is reserved: Clarion serves its own routes at /{reserved} (and any"
                " path starting with /openapi), so a page there could not be reached; choose"
                " another slug",
                {"slug": repr(slug), "reserved": ", /".join(RESERVED_SLUGS)},
            )
        return slug

    @field_validator("custom_domain")
    @classmethod
    def valid_host_name(cls, domain: str | None) -> str | None:
        if domain is None:
            return None
        host = domain.lower().removesuffix(".")
        labels = host.split(".")
        if len(host) > 253 or not all(HOST_LABEL_RE.match(label) for label in labels):
            raise PydanticCustomError(
                "host_name",
                "{domain} is not a host name such as status.example.com (letters, digits,"
                " dashes and dots only: no scheme, port, path or spaces; write international"
                " names in their xn-- form)",
                {"domain": repr(domain)},
            )
        return host

    @field_validator("time_zone")
    @classmethod
    def valid_time_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "time_zone",
                "{name} is not a time zone name such as Europe/London (an IANA name)",
                {"name": repr(name)},
            ) from None
        return name

    @field_validator("items", mode="before")
    @classmethod
    def items_not_null(cls, items: Any) -> Any:
        # An empty ``items:`` is most likely an accident; emptying a page must be explicit.
        if items is None:
            raise PydanticCustomError(
                "items_null",
                "is empty: write items: [] to remove everything from the page, or leave the"
                " key out to keep the page's structure as it is",
            )
        return items


class DeclarationSpec(Strict):
    components: list[ComponentSpec] = []
    status_pages: list[PageSpec] = []


SubPageSpec.model_rebuild()


# -- what apply makes true -----------------------------------------------------------------


@dataclass
class DesiredComponent:
    key: str
    name: str
    description: str | None


@dataclass
class DesiredItem:
    key: str
    kind: str
    parent_key: str | None
    position: int
    component_key: str | None = None
    name: str | None = None
    description: str | None = None
    hidden: bool = False
    display_uptime: bool = True
    display_aggregated_uptime: bool = False


@dataclass
class DesiredPage:
    slug: str
    name: str
    description: str | None
    display_uptime_mode: str
    custom_domain: str | None
    time_zone: str
    #: None: leave the stored structure alone; a list: exactly these items, in this order.
    items: list[DesiredItem] | None


@dataclass
class Declaration:
    components: list[DesiredComponent]
    pages: list[DesiredPage]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (path, and line and column when known) and why."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def render(self, source: str | None) -> str:
        where = ":".join(str(part) for part in (source, self.line, self.column) if part is not None)
        what = f"{self.path}: {self.message}" if self.path else self.message
        return f"{where}: {what}" if where else what


class DeclarationError(ValueError):
    """The file is not a valid declaration; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"{source or 'the declaration'}: {count}; nothing was changed"]
        lines += [problem.render(source) for problem in problems]
        super().__init__("\n".join(lines))


def item_key(kind: str, key: str | None, name: str) -> str:
    """The stored key of a structure item: groups and sub-pages without a key go by name."""
    return f"{kind}:{key or name}"


def validate(
    data: Any, positions: Positions | None = None, source: str | None = None
) -> Declaration:
    """Check ``data`` (the parsed YAML document) against the schema and the cross-entry rules;
    raises ``DeclarationError`` with every problem, located when ``positions`` are known."""
    found: list[tuple[Loc, str, bool]] = list(positions.duplicates) if positions else []
    spec: DeclarationSpec | None = None
    try:
        spec = DeclarationSpec.model_validate({} if data is None else data)
    except ValidationError as exc:
        for error in exc.errors():
            message, at_key = describe_error(error, DeclarationSpec)
            found.append((tuple(error["loc"]), message, at_key))
    found += [(loc, message, False) for loc, message in cross_entry_problems(data, KEY_MAX)]
    if found:
        problems = []
        for loc, message, at_key in found:
            line, column = positions.locate(loc, at_key) if positions else (None, None)
            if not loc:
                message = f"the file {message}"
            problems.append(Problem(path_of(loc), message, line, column))
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise DeclarationError(problems, source)
    assert spec is not None
    return _desired(spec)


def parse_declaration(data: Any) -> Declaration:
    """``validate`` without positions: for declarations built in code (the demo, tests)."""
    return validate(data)


def read_declaration(text: str, source: str) -> Declaration:
    """Parse the YAML ``text`` of the file ``source`` and ``validate`` it; every problem names
    ``source`` and its line and column there."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        positions = Positions(node) if node is not None else None
        data = SafeConstructor().construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise DeclarationError([_syntax_problem(exc)], source) from None
    except yaml.YAMLError as exc:
        raise DeclarationError([Problem("", f"not valid YAML: {exc}")], source) from None
    return validate(data, positions, source)


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"not valid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        message += f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            message += f" at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        message += ")"
    if mark is None:
        return Problem("", message)
    return Problem("", message, mark.line + 1, mark.column + 1)


class Positions:
    """Where each value (and each mapping key) of a composed YAML document starts, by path;
    and the keys given twice in one mapping (YAML would silently keep the last)."""

    def __init__(self, root: yaml.Node) -> None:
        self.values: dict[Loc, yaml.Mark] = {}
        self.keys: dict[Loc, yaml.Mark] = {}
        self.duplicates: list[tuple[Loc, str, bool]] = []
        self._walk(root, (), frozenset())

    def _walk(self, node: yaml.Node, loc: Loc, ancestors: frozenset[int]) -> None:
        if id(node) in ancestors:  # a recursive alias
            return
        self.values[loc] = node.start_mark
        inside = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for index, child in enumerate(node.value):
                self._walk(child, (*loc, index), inside)
        elif isinstance(node, yaml.MappingNode):
            for key_node, child in node.value:
                # Merge keys (<<) bring in values defined elsewhere: those fall back to the
                # mapping's own position.
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                at: Loc = (*loc, key_node.value)
                if at in self.keys:
                    first = self.keys[at].line + 1
                    self.duplicates.append(
                        (at, f"is given twice in this mapping (first at line {first})", True)
                    )
                self.keys[at] = key_node.start_mark
                self._walk(child, at, inside)
                if isinstance(child, yaml.ScalarNode) and child.value == "" and not child.style:
                    # An empty value starts wherever the next thing does: show its key.
                    self.values[at] = key_node.start_mark

    def locate(self, loc: Loc, at_key: bool) -> tuple[int, int]:
        """(line, column), from 1, of the value at ``loc`` (of its key when ``at_key``), or of
        the nearest enclosing value the file has (a missing key: the mapping that lacks it)."""
        mark = self.keys.get(loc) if at_key else None
        for size in range(len(loc), -1, -1):
            if mark is not None:
                break
            mark = self.values.get(loc[:size])
        assert mark is not None
        return mark.line + 1, mark.column + 1


def _desired(spec: DeclarationSpec) -> Declaration:
    components = [
        DesiredComponent(c.key, c.name or c.key, c.description or None) for c in spec.components
    ]
    pages = []
    for page in spec.status_pages:
        items: list[DesiredItem] | None = None
        if page.items is not None:
            items = []
            _flatten(page.items, None, items)
        pages.append(
            DesiredPage(
                slug=page.slug,
                name=page.name or page.slug,
                description=page.description or None,
                display_uptime_mode=page.display_uptime_mode,
                custom_domain=page.custom_domain,
                time_zone=page.time_zone,
                items=items,
            )
        )
    return Declaration(components=components, pages=pages)


def _placed(ref: ComponentRef, parent: str | None, position: int) -> DesiredItem:
    return DesiredItem(
        key=item_key("component", ref.key, ""),
        kind="component",
        parent_key=parent,
        position=position,
        component_key=ref.key,
        hidden=ref.hidden,
        display_uptime=ref.display_uptime,
    )


def _flatten(items: list[ItemSpec], parent: str | None, out: list[DesiredItem]) -> None:
    """Parents before their children, positions counted among siblings."""
    for position, item in enumerate(items):
        if item.component is not None:
            out.append(_placed(item.component, parent, position))
            continue
        body: ContainerSpec
        if item.group is not None:
            kind, body = "group", item.group
        else:
            assert item.sub_page is not None
            kind, body = "sub_page", item.sub_page
        key = item_key(kind, body.key, body.name)
        out.append(
            DesiredItem(
                key=key,
                kind=kind,
                parent_key=parent,
                position=position,
                name=body.name,
                description=body.description or None,
                hidden=body.hidden,
                display_aggregated_uptime=body.display_aggregated_uptime,
            )
        )
        if isinstance(body, GroupSpec):
            out.extend(_placed(ref, key, index) for index, ref in enumerate(body.components))
        else:
            _flatten(body.items, key, out)
