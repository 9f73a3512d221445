"""What ``clarion incidents`` and ``clarion maintenance`` share: pages by slug or id, components
by key or id, ISO 8601 times, the API's validation turned into one-line errors naming the
option, tables and safe printing."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.ext.asyncio import AsyncSession

    from clarion.context import AppContext
    from clarion.errors import ClarionError
    from clarion.status_pages.models import StatusPage

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


def printable(value: object) -> str:
    """``value`` as text safe to print on a terminal: control and format characters (escape
    sequences, new lines, bidirectional overrides) are shown as ``\\xNN`` / ``\\uNNNN``."""
    text = str(value)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char == " " or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)


def read_message(message: str) -> str:
    """``-`` reads the message from stdin (Markdown, several lines)."""
    return sys.stdin.read() if message == "-" else message


def parse_time(value: str, option: str) -> datetime:
    """An ISO 8601 timestamp with its offset (``2026-12-05T02:00+01:00``, ``…Z``); a time
    without an offset is refused rather than guessed."""
    from clarion.timeutil import to_utc

    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        if "T" not in text and " " not in text:
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-12-05T02:00+01:00", param_hint=option
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no offset: add one, e.g. {text}+01:00 or {text}Z", param_hint=option
        )
    try:
        return to_utc(parsed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def zone_of(page: StatusPage) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(page.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Etc/UTC")


def local_time(moment: datetime | None, zone: tzinfo) -> str:
    """ISO 8601 in the page's time zone, with its offset, to the minute."""
    if moment is None:
        return "-"
    return moment.astimezone(zone).isoformat(timespec="minutes")


def split_refs(values: Sequence[str], option: str) -> list[tuple[str, str]]:
    """``KEY=STATUS`` pairs (a component's key or id, and a status)."""
    pairs = []
    for value in values:
        ref, sep, status = value.partition("=")
        if not sep or not ref.strip() or not status.strip():
            raise click.BadParameter(
                f"{value!r}: give KEY=STATUS, e.g. api=partial_outage", param_hint=option
            )
        pairs.append((ref.strip(), status.strip()))
    return pairs


class Refused(click.ClickException):
    """A write the services refused; the message is one line, naming the option."""


#: The API's request fields and the options that carry them.
OPTIONS = {
    "status_page_id": "--page",
    "name": "--name",
    "incident_status": "--status",
    "maintenance_status": "--status",
    "message": "--message",
    "component_statuses": "--component",
    "affected_component_ids": "--component",
    "start_at": "--start",
    "end_at": "--end",
    "idempotency_key": "--idempotency-key",
    "status_page_incident_id": "INCIDENT",
    "status_page_maintenance_id": "WINDOW",
}


def refusal(error: ClarionError, refs: Sequence[str] = ()) -> Refused:
    """``error`` as one line per problem, each naming the option (and the component as the
    user named it: ``--component api``)."""
    import re

    lines = []
    for detail in error.details:
        where = ""
        if detail.field:
            head = re.split(r"[.\[]", detail.field, maxsplit=1)[0]
            where = OPTIONS.get(head, detail.field)
            index = re.match(r"^\w+\[(\d+)\]", detail.field)
            if where == "--component" and index and int(index.group(1)) < len(refs):
                where = f"--component {refs[int(index.group(1))]}"
        message = printable(detail.message)
        lines.append(f"{where}: {message}" if where else message)
    return Refused("; ".join(lines))


def validated(model: type[M], body: Mapping[str, Any], refs: Sequence[str] = ()) -> M:
    """``body`` checked by the API's own request model (the same limits and messages)."""
    from pydantic import ValidationError

    from clarion.http.validation import details_from_pydantic

    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        raise refusal(details_from_pydantic(exc.errors()), refs) from None


def run(body: Callable[[AppContext], Awaitable[T]], refs: Sequence[str] = ()) -> T:
    """Run ``body`` against the database from the environment; the services' refusals become
    the command's one-line error."""
    from clarion.cli.common import load_settings, run_with_context
    from clarion.errors import ClarionError

    try:
        return run_with_context(load_settings(), body)
    except ClarionError as exc:
        raise refusal(exc, refs) from None


async def find_page(session: AsyncSession, ref: str) -> StatusPage:
    """The status page with this slug or id."""
    from clarion.errors import ValidationFailed
    from clarion.status_pages.models import StatusPage
    from clarion.status_pages.service import page_by_slug

    page = await page_by_slug(session, ref) or await session.get(StatusPage, ref)
    if page is None:
        raise ValidationFailed.at(
            "not_found", f"no status page with slug or id {ref!r}", "status_page_id"
        )
    return page


async def component_ids(session: AsyncSession, refs: Sequence[str]) -> list[str]:
    """The ids of components named by key (as in ``clarion apply``) or id, in order. An
    unknown name is refused here; whether each is on the page is the service's check."""
    from sqlalchemy import or_, select

    from clarion.components.models import Component
    from clarion.errors import ErrorDetail, ValidationFailed

    if not refs:
        return []
    rows = (
        await session.execute(
            select(Component.id, Component.key).where(
                or_(Component.key.in_(refs), Component.id.in_(refs)),
                Component.archived_at.is_(None),
            )
        )
    ).all()
    by_ref = {**{r.id: r.id for r in rows}, **{r.key: r.id for r in rows if r.key}}
    problems = [
        ErrorDetail("not_found", "no component with this key or id", f"component_statuses[{i}]")
        for i, ref in enumerate(refs)
        if ref not in by_ref
    ]
    if problems:
        raise ValidationFailed(*problems)
    return [by_ref[ref] for ref in refs]


async def page_and_components(
    ctx: AppContext, page_ref: str, refs: Sequence[str]
) -> tuple[StatusPage, list[str]]:
    """The page (slug or id) and the components (keys or ids) a create names."""
    async with ctx.db.read() as session:
        return await find_page(session, page_ref), await component_ids(session, refs)


async def component_keys(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    """Each component's key (its id when it has none), for display."""
    from sqlalchemy import select

    from clarion.components.models import Component

    if not ids:
        return {}
    rows = await session.execute(
        select(Component.id, Component.key).where(Component.id.in_(sorted(set(ids))))
    )
    return {r.id: r.key or r.id for r in rows}


def permalink(page: StatusPage, settings: Any, kind: str, item_id: str) -> str:
    """The public page of an incident (``kind`` ``incidents``) or window (``maintenance``)."""
    from clarion.status_pages.schemas import public_url

    return f"{public_url(page, settings)}/{kind}/{item_id}"


def item_id(ref: str) -> str:
    """An incident's or window's id, or the id at the end of its permalink."""
    return ref.rstrip("/").rsplit("/", 1)[-1].strip()


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns (the last one left ragged), every value made printable."""
    cells = [[printable(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in cells
    ]


def echo_json(value: Any) -> None:
    import json

    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


notify_option = click.option(
    "--notify/--no-notify",
    default=False,
    show_default=True,
    help="Notify the page's subscribers (e-mail and webhooks).",
)


def report(result: dict[str, Any], as_json: bool, done: str) -> None:
    """stdout: the permalink alone (or, with ``--json``, the object and its permalink);
    stderr: what was done (``done``: "declared incident", "scheduled maintenance window" …)."""
    if as_json:
        echo_json(result)
        return
    (item,) = (v for k, v in result.items() if k != "permalink")
    status = item.get("incident_status") or item.get("maintenance_status")
    click.echo(f"{done} {item['id']} ({printable(item['name'])}): {status}", err=True)
    click.echo(result["permalink"])


def print_listing(
    page: StatusPage, header: Sequence[str], rows: Sequence[Sequence[str]], more: bool, limit: int
) -> None:
    """A list command's table, under a line naming the page and its time zone."""
    click.echo(printable(f"{page.slug}: {page.name} (times in {page.time_zone})"))
    if rows:
        click.echo("")
        for line in table(header, rows):
            click.echo(line)
    if more:
        click.echo(f"(more than {limit}: use --limit)")
