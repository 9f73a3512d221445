"""Every code block of the README and docs/*.md runs against a live Clarion, or says why not.

A block is run by its language (``tests/docs/reader.py`` says what it may assume):

- ``python``: executed; ``sh`` and ``console``: run in a shell, the output they show compared
  with the real one in substance (JSON by shape, lines with numbers and ids left free);
- ``yaml`` that is a ``clarion apply`` file: planned (``--dry-run``), applied and applied again;
- a block without a language made of ``clarion …`` usage lines: checked against ``--help``;
- ``markdown``: every link in it loads.

Blocks that show a real answer (JSON, a command's output, a file layout, an e-mail) are checked
against one by the function that ``SPECIAL`` names for them, which may also run a block with more
checks. Anything else carries ``<!-- docs-test: skip (why) -->`` right before it; a block that
is neither run nor marked fails ``test_every_block_is_run_or_says_why_not``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import WebhookVerificationError

from tests.docs.blocks import Block, blocks_of, documents, is_synopsis, line_pattern, same_shape
from tests.docs.reader import Reader, World, is_apply_file
from tests.factories import make_key
from tests.harness import fresh_database, live_server
from tests.notifications.email_scenes import Story, story
from tests.notifications.webhook_receiver import webhook_receiver
from tests.subscribers.fixtures import mail_server, sink

__all__ = ["mail_server", "sink", "story"]  # the notification tests' e-mails, for notifications.md

Check = Callable[[Reader, Block], None]
#: (document, a text found in exactly one of its blocks) -> what runs or checks that block
SPECIAL: dict[tuple[str, str], Check] = {}


def special(doc: str, needle: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        SPECIAL[doc, needle] = check
        return check

    return register


def special_for(block: Block) -> Check | None:
    found = [
        check
        for (doc, needle), check in SPECIAL.items()
        if doc == block.doc and needle in block.text
    ]
    assert len(found) <= 1, f"{block}: more than one check claims it"
    return found[0] if found else None


def runnable(block: Block) -> bool:
    return block.info in ("python", "sh", "console", "markdown") or (
        is_apply_file(block) or is_synopsis(block)
    )


def run_block(reader: Reader, block: Block) -> None:
    if block.marker is not None:
        assert block.skip_reason, f"{block}: unknown marker {block.marker!r}"
        return
    check = special_for(block)
    if check is not None:
        check(reader, block)
    elif block.info == "python":
        reader.run_python(block)
    elif block.info in ("sh", "console"):
        reader.run_shell(block)
    elif block.info == "markdown":
        reader.check_links(block)
    elif is_apply_file(block):
        reader.apply(block)
    elif is_synopsis(block):
        reader.check_synopsis(block)
    else:
        pytest.fail(f"{block}: neither run nor marked")


# -- the tests ----------------------------------------------------------------------------


def test_every_block_is_run_or_says_why_not() -> None:
    unclaimed = []
    for doc in documents():
        blocks = blocks_of(doc)
        for block in blocks:
            if block.marker is not None:
                assert block.skip_reason, (
                    f"{block}: a marker reads `skip (why)`, not {block.marker!r}"
                )
            elif special_for(block) is None and not runnable(block):
                unclaimed.append(str(block))
        for key in (key for key in SPECIAL if key[0] == doc):
            holders = [str(b) for b in blocks if key[1] in b.text]
            assert len(holders) == 1, f"the check of {key} should claim one block, not {holders}"
    assert not unclaimed, (
        "blocks that are neither run nor marked `<!-- docs-test: skip (why) -->`: "
        + ", ".join(unclaimed)
    )
    assert {doc for doc, _ in SPECIAL} <= set(documents()), "checks of documents that are gone"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with (
        fresh_database(str(tmp_path_factory.mktemp("docs-db"))) as url,
        live_server(url) as server,
    ):
        world = World(server, url)
        world.populate(tmp_path_factory.mktemp("world"))
        yield world


@pytest.mark.parametrize("doc", documents())
def test_the_code_blocks_of(
    doc: str, world: World, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blocks = blocks_of(doc)
    reader = Reader(world, doc, blocks, tmp_path, request.getfixturevalue)
    with reader.cleanup:
        for block in blocks:
            run_block(reader, block)


# -- README.md ----------------------------------------------------------------------------


@special("README.md", "status_pages_v2_create_status_page_incident.sync(")
def sdk_example(reader: Reader, block: Block) -> None:
    """The incident is created, and running the example again (same idempotency key) creates
    nothing more."""

    def named() -> list[dict[str, Any]]:
        page_id = reader.namespace["page"].id
        with reader.world.api() as client:
            answer = client.get("/v2/status_page_incidents", params={"status_page_id": page_id})
        incidents = answer.json()["status_page_incidents"]
        return [i for i in incidents if i["name"] == "Elevated API latency"]

    reader.run_python(block)
    [incident] = named()
    assert incident["incident_status"] == "investigating"
    reader.run_python(block)
    assert named() == [incident]


# -- docs/api-conventions.md --------------------------------------------------------------


@special("docs/api-conventions.md", '"type": "validation_error"')
def error_envelope(reader: Reader, block: Block) -> None:
    with reader.world.api() as client:
        answer = client.post(
            "/v2/status_page_incidents",
            json={
                "status_page_id": reader.world.page_id("acme"),
                "name": "x" * 201,
                "incident_status": "investigating",
                "message": "A name one character too long.",
                "notify_subscribers": False,
                "idempotency_key": str(uuid.uuid4()),
            },
        )
    assert answer.status_code == 422
    assert not same_shape(json.loads(block.text), answer.json()), answer.text


@special("docs/operations.md", '"status": "ready"')
def ready_answer(reader: Reader, block: Block) -> None:
    """The live server's own ready answer: the checks the docs show, each ok or not applicable
    (``worker`` where no worker runs in the process, as in the test server; ``database_file``
    on PostgreSQL)."""
    shown = json.loads(block.text)
    answer = httpx.get(f"{reader.world.base_url}/readyz", timeout=30)
    assert answer.status_code == 200, answer.text
    real = answer.json()
    assert real["status"] == shown["status"]
    assert set(real["checks"]) == set(shown["checks"]), real
    assert set(real["checks"].values()) <= {"ok", "not_applicable"}, real
    assert real["checks"]["database_writable"] == real["checks"]["schema"] == "ok", real


@special("docs/api-conventions.md", '"type": "too_many_requests"')
def rate_limited(reader: Reader, block: Block) -> None:
    """A server on the same database whose bucket holds two requests."""
    with (
        live_server(
            reader.world.database_url, rate_limit_capacity=2, rate_limit_refill_per_second=0.01
        ) as small,
        reader.world.api(make_key(small), base_url=small.base_url) as client,
    ):
        answers = [client.get("/v1/identity") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"].isdigit()
    problems = same_shape(
        json.loads(block.text), answers[2].json(), loose=frozenset({"/rate_limit/limit"})
    )
    assert not problems, answers[2].text


@special("docs/api-conventions.md", "after = UNSET")
def pagination_loop(reader: Reader, block: Block) -> None:
    """The loop sees every incident of a page of 101, each once."""
    with reader.world.api() as client:
        made = {
            reader.world.create_incident(client, "paging", f"Incident {n}", "Paging through.")["id"]
            for n in range(101)
        }
    seen: list[Any] = []
    reader.run_python(block, page_id=reader.world.page_id("paging"), handle=seen.extend)
    assert sorted(str(i.id) for i in seen) == sorted(made)


# -- docs/apply.md ------------------------------------------------------------------------


def complete_example(reader: Reader) -> str:
    return next(b.text for b in reader.blocks if is_apply_file(b) and "custom_domain:" in b.text)


@special("docs/apply.md", "clarion apply pages.yaml")
def apply_commands(reader: Reader, block: Block) -> None:
    (reader.workdir / "pages.yaml").write_text(complete_example(reader))
    applied, planned = reader.run_shell(block)
    assert planned.step.command.startswith("clarion apply --dry-run"), planned.step
    assert applied.stdout.strip() and planned.stdout == "no changes\n", planned.stdout
    assert planned.stderr.strip() == "dry run: nothing was changed", planned.stderr


@special("docs/apply.md", "descripton: Public REST API")
def file_with_problems(reader: Reader, block: Block) -> None:
    (reader.workdir / "pages.yaml").write_text(block.text)
    outcome = reader.clarion("apply", "pages.yaml", code=1)
    planned = reader.clarion("apply", "--dry-run", "pages.yaml", code=1)
    assert planned.stderr == outcome.stderr
    reader.state["problems"] = outcome.stderr


@special("docs/apply.md", "Error: pages.yaml: 5 problems")
def problems_shown(reader: Reader, block: Block) -> None:
    assert reader.state["problems"] == block.text


@special("docs/apply.md", "created component api")
def first_apply_output(reader: Reader, block: Block) -> None:
    """The complete example, applied to an empty database."""
    url = reader.cleanup.enter_context(fresh_database(str(reader.workdir)))
    reader.state["empty database"] = url
    (reader.workdir / "example.yaml").write_text(complete_example(reader))
    outcome = reader.clarion("apply", "example.yaml", CLARION_DATABASE_URL=url)
    assert outcome.stdout == block.text


@special("docs/apply.md", "updated component web: name")
def second_apply_output(reader: Reader, block: Block) -> None:
    """Then again after renaming Website, choosing chart_only and taking the api item out."""
    example = complete_example(reader)
    edited = (
        example.replace("name: Website}", "name: Web site}")
        .replace("display_uptime_mode: chart_and_percentage", "display_uptime_mode: chart_only")
        .replace("      - component: api\n", "")
    )
    assert edited.count("\n") == example.count("\n") - 1 and "Web site" in edited
    (reader.workdir / "example.yaml").write_text(edited)
    url = reader.state["empty database"]
    outcome = reader.clarion("apply", "example.yaml", CLARION_DATABASE_URL=url)
    assert outcome.stdout == block.text


# -- docs/components.md -------------------------------------------------------------------


@special("docs/components.md", '"management_meta"')
def component_shape(reader: Reader, block: Block) -> None:
    shown = json.loads(block.text)
    with reader.world.api() as client:
        answer = client.post(
            "/v2/status_page_components",
            json={"name": shown["name"], "description": shown["description"]},
        )
        assert answer.status_code == 201, answer.text
        component = answer.json()["status_page_component"]
        assert client.delete(f"/v2/status_page_components/{component['id']}").status_code == 204
    assert not same_shape(shown, component), component


# -- docs/export.md -----------------------------------------------------------------------


@special("docs/export.md", "exported 1 page(s)")
def export_summary(reader: Reader, block: Block) -> None:
    """The summary line of the first export above (not a terminal: nothing else)."""
    first = next(r for r in reader.ran if r.step.command.startswith("clarion export"))
    pattern = line_pattern(block.text.strip())
    printed = (first.stdout + first.stderr).strip()
    assert pattern.fullmatch(printed), printed


@special("docs/export.md", "DIR/acme/index.html")
def export_layout(reader: Reader, block: Block) -> None:
    """Every file of the layout is in the first export, and the live site serves its path."""
    first = next(r for r in reader.ran if r.step.command.startswith("clarion export"))
    target = reader.workdir / first.step.command.split()[2]
    for line in block.text.splitlines():
        spec = re.split(r"\s{2,}", line.strip())[0].replace(" …", "")
        head, *siblings = spec.split(", ")
        folder = head.rsplit("/", 1)[0]
        for path in [head, *(f"{folder}/{name}" for name in siblings)]:
            pattern = re.sub(r"\d{4}-\d{2}", "[0-9][0-9][0-9][0-9]-[0-9][0-9]", path)
            pattern = pattern.replace("<id>", "*").removeprefix("DIR/")
            files = sorted(target.glob(pattern))
            assert files, f"{block}: the export has no {path}"
            if path.startswith("DIR/acme/") and path.endswith("/index.html"):
                url = "/" + str(files[0].parent.relative_to(target))
                answer = httpx.get(reader.world.base_url + url, timeout=30)
                assert answer.status_code == 200, url


# -- docs/notifications.md ----------------------------------------------------------------


@special("docs/notifications.md", "View this incident:")
def incident_mail(reader: Reader, block: Block) -> None:
    """The text part of a real new-incident e-mail has the same lines: each equal, or starting
    with the shown one, or with the same label (``Components:``, the links)."""
    told: Story = reader.fixture("story")
    real = told.mails["incident.created"].text.strip().splitlines()
    shown = block.text.strip().splitlines()
    assert len(real) == len(shown), (shown, real)
    for line, got in zip(shown, real, strict=True):
        label = re.match(r"^[A-Z][A-Za-z ]+: ", line)
        same = got.startswith(line) or (label is not None and got.startswith(label[0]))
        assert same if line else not got, (line, got)


# -- docs/uptime.md -----------------------------------------------------------------------


@special("docs/uptime.md", "GET /v2/status_pages/{status_page_id}/components/")
def availability_request(reader: Reader, block: Block) -> None:
    """The endpoint is in the OpenAPI document with its two parameters; asked for the status
    page's component, it answers."""
    method, template, query = block.text.split()
    with reader.world.api() as client:
        # History from before the asked window, so that it has data, as the example's has.
        payments = reader.world.component_id("payments")
        backfill = client.post(
            "/v2/status_page_retrospective_incidents",
            json={
                "status_page_id": reader.world.page_id("status"),
                "name": "Payments failing",
                "idempotency_key": str(uuid.uuid4()),
                "updates": [
                    {
                        "incident_status": "investigating",
                        "message": "Payments fail.",
                        "published_at": "2025-06-03T09:12:44.120391Z",
                        "component_statuses": [
                            {"component_id": payments, "component_status": "full_outage"}
                        ],
                    },
                    {
                        "incident_status": "resolved",
                        "message": "Payments work again.",
                        "published_at": "2025-06-03T10:00:00Z",
                    },
                ],
            },
        )
        assert backfill.status_code == 201, backfill.text
        operation = client.get("/openapi.json").json()["paths"][template][method.lower()]
        names = {p["name"] for p in operation["parameters"]}
        assert {"start_at", "end_at"} <= names, names
        path = template.replace("{status_page_id}", reader.world.page_id("status")).replace(
            "{component_id}", reader.world.component_id("payments")
        )
        answer = client.get(path + query)
    assert answer.status_code == 200, answer.text
    reader.state["availability"] = answer.json()


@special("docs/uptime.md", '"availability_percent"')
def availability_shape(reader: Reader, block: Block) -> None:
    real = reader.state["availability"]
    assert not same_shape(json.loads(block.text), real), real


# -- docs/webhooks.md ---------------------------------------------------------------------


@special("docs/webhooks.md", "$ clarion subscribers add-webhook")
def add_webhook(reader: Reader, block: Block) -> None:
    """Run as shown; then removed again (nothing is delivered to the example's host)."""
    [ran] = reader.run_shell(block)
    subscription = ran.stderr.split()[-1]
    reader.clarion("subscribers", "remove-webhook", subscription)


def deliveries(reader: Reader) -> dict[str, Any]:
    """Real deliveries to a webhook on the status page (kept for the document's other blocks):
    an incident created and a window scheduled, as the examples show them, delivered by
    ``clarion worker --once``. ``{"secret": …, type: (headers, body)}``."""
    if "deliveries" in reader.state:
        return dict(reader.state["deliveries"])
    world = reader.world
    private = {"CLARION_WEBHOOK_ALLOW_PRIVATE": "true"}
    with webhook_receiver() as receiver:
        added = reader.clarion(
            "subscribers", "add-webhook", "--page", "status", receiver.url(), **private
        )
        secret = added.stdout.strip()
        payments = world.component_id("payments")
        with world.api() as client:
            world.create_incident(
                client,
                "status",
                "Payments failing",
                "We are investigating failed payments",
                notify_subscribers=True,
                component_statuses=[
                    {"component_id": payments, "component_status": "partial_outage"}
                ],
            )
            world.create_window(
                client,
                "status",
                ["payments"],
                name="Network upgrade",
                message="Routers are being replaced",
                notify_subscribers=True,
                automate_maintenance_status=True,
            )
        reader.process("worker", "--once", **private)
        received = receiver.received()
        reader.clarion("subscribers", "remove-webhook", added.stderr.split()[-1])
    found: dict[str, Any] = {"secret": secret}
    for request in received:
        found[json.loads(request.body)["type"]] = (request.headers, request.body)
    reader.state["deliveries"] = found
    return found


@special("docs/webhooks.md", '"type": "incident.created"')
def incident_payload(reader: Reader, block: Block) -> None:
    _headers, body = deliveries(reader)["incident.created"]
    real = json.loads(body)
    assert not same_shape(json.loads(block.text), real), real


@special("docs/webhooks.md", '"type": "maintenance.scheduled"')
def maintenance_payload(reader: Reader, block: Block) -> None:
    _headers, body = deliveries(reader)["maintenance.scheduled"]
    real = json.loads(body)
    assert not same_shape(json.loads(block.text), real), real


@special("docs/webhooks.md", "from standardwebhooks import Webhook")
def verify_with_the_library(reader: Reader, block: Block) -> None:
    found = deliveries(reader)
    headers, body = found["incident.created"]
    reader.run_python(block, SECRET=found["secret"], already_seen=lambda _id: False)
    handle = reader.namespace["handle"]
    handle(body, headers)
    with pytest.raises(WebhookVerificationError):
        handle(body + b" ", headers)


@special("docs/webhooks.md", "def verify(")
def verify_by_hand(reader: Reader, block: Block) -> None:
    found = deliveries(reader)
    headers, body = found["maintenance.scheduled"]
    reader.run_python(block)
    verify = reader.namespace["verify"]
    assert verify(found["secret"], headers, body) is True
    assert verify(found["secret"], headers, body + b" ") is False
    other = "whsec_" + "A" * 43 + "="
    assert verify(other, headers, body) is False
