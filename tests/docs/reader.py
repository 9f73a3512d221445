"""A reader of the docs, at a live Clarion: what they have (a running server, the ``clarion``
command on the same database, a working directory, a Python session) and how they run a block.

What a block assumes, and how the test provides it:

- The server is at ``http://127.0.0.1:8080`` (``make demo``'s address, and the default
  ``CLARION_BASE_URL``): that exact text, in any block, is replaced by the live server's URL.
  ``https://status.example.com`` (the docs' example of a page on its own domain) is replaced by
  the URL of that page under the live server, ``<base URL>/status``.
- ``token="clarion_…"`` in Python is the reader's API key: the placeholder is replaced by a
  fresh key with every role.
- Shell blocks run with ``sh -e`` in one working directory per document, with
  ``CLARION_DATABASE_URL`` and ``CLARION_BASE_URL`` of the live server and ``clarion`` on the
  ``PATH``. Python blocks of one document run in order in one namespace, as pasted into one
  session; a name a block uses without defining it (``page_id``, ``handle``, ``SECRET``) is
  given by the test that runs it.
- The installation has the pages the docs talk about (``WORLD``): ``acme`` (Acme Cloud, with
  the components of the README's example, an incident and a maintenance window) and ``status``
  (Example Cloud, at ``status.example.com``, with the component Payments API), whichever
  document runs first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import select

from clarion.cli.main import cli
from clarion.components.models import Component
from clarion.context import AppContext
from clarion.status_pages.models import StatusPage
from tests.contract.checks import SDK_HTTPX_ARGS
from tests.contract.cli import cli_environment
from tests.docs.blocks import (
    Block,
    Step,
    console_steps,
    json_shown,
    line_pattern,
    same_shape,
    sh_steps,
    split_annotation,
    synopsis_parts,
)
from tests.factories import make_key
from tests.harness import LiveServer

DEMO_URL = "http://127.0.0.1:8080"
EXAMPLE_DOMAIN_URL = "https://status.example.com"
TOKEN_PLACEHOLDER = '"clarion_…"'
SECRET_KEY = "test-secret-key-0123456789"  # the live server's (tests/harness.py)
STEP_MARK = "@@docs-test step@@"

WORLD = """\
components:
  - {key: api, name: API, description: Public REST API}
  - {key: web, name: Website}
  - {key: eu, name: Europe}
  - {key: us, name: United States}
  - {key: uk, name: London}
  - {key: payments, name: Payments API}
  - {key: paging, name: Paging}
status_pages:
  - slug: acme
    name: Acme Cloud
    items:
      - component: api
      - component: web
      - group:
          name: Regions
          key: regions
          components: [eu, us]
      - sub_page:
          name: United Kingdom
          items:
            - component: uk
  - slug: status
    name: Example Cloud
    custom_domain: status.example.com
    items:
      - component: payments
  - slug: paging
    name: Paging
    items:
      - component: paging
"""


@dataclass
class World:
    """The live server and its database, with the pages of ``WORLD``."""

    server: LiveServer
    database_url: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def localise(self, text: str) -> str:
        return text.replace(EXAMPLE_DOMAIN_URL, f"{self.base_url}/status").replace(
            DEMO_URL, self.base_url
        )

    def settings_env(self, **more: str) -> dict[str, str]:
        """The ``CLARION_*`` settings the server runs with, as a reader's shell has them."""
        return {
            "CLARION_DATABASE_URL": self.database_url,
            "CLARION_BASE_URL": self.base_url,
            "CLARION_SECRET_KEY": SECRET_KEY,
            **more,
        }

    def key(self, *roles: str, name: str = "docs") -> str:
        return make_key(self.server, *roles, name=name)

    @contextlib.contextmanager
    def api(self, token: str | None = None, base_url: str | None = None) -> Iterator[httpx.Client]:
        """Raw HTTP with a key (a fresh one with every role unless given); every API response
        is checked like the SDK's."""
        headers = {"Authorization": f"Bearer {token or self.key()}"}
        with httpx.Client(
            base_url=base_url or self.base_url,
            headers=headers,
            timeout=30,
            **SDK_HTTPX_ARGS,
        ) as client:
            yield client

    def ids(self) -> tuple[dict[str, str], dict[str, str]]:
        """(page id by slug, component id by key)."""

        async def body(ctx: AppContext) -> tuple[dict[str, str], dict[str, str]]:
            async with ctx.db.read() as session:
                pages = {p.slug: p.id for p in await session.scalars(select(StatusPage))}
                components = {c.key or c.id: c.id for c in await session.scalars(select(Component))}
            return pages, components

        return self.server.call(body)

    def page_id(self, slug: str) -> str:
        return self.ids()[0][slug]

    def component_id(self, key: str) -> str:
        return self.ids()[1][key]

    def create_incident(
        self, client: httpx.Client, slug: str, name: str, message: str, **more: Any
    ) -> dict[str, Any]:
        body = {
            "status_page_id": self.page_id(slug),
            "name": name,
            "incident_status": "investigating",
            "message": message,
            "notify_subscribers": False,
            "idempotency_key": str(uuid.uuid4()),
            **more,
        }
        answer = client.post("/v2/status_page_incidents", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json()["status_page_incident"])

    def create_window(
        self, client: httpx.Client, slug: str, components: list[str], **more: Any
    ) -> dict[str, Any]:
        start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        body = {
            "status_page_id": self.page_id(slug),
            "name": "Database upgrade",
            "maintenance_status": "maintenance_scheduled",
            "message": "We will upgrade the primary database.",
            "affected_component_ids": [self.component_id(key) for key in components],
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=1)).isoformat(),
            "notify_subscribers": False,
            "idempotency_key": str(uuid.uuid4()),
            **more,
        }
        answer = client.post("/v2/status_page_maintenances", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json()["status_page_maintenance"])

    def populate(self, workdir: Path) -> None:
        """Declare ``WORLD`` with ``clarion apply``; give acme an incident and a window."""
        (workdir / "world.yaml").write_text(WORLD)
        outcome = CliRunner().invoke(
            cli, ["apply", str(workdir / "world.yaml")], env=self.settings_env()
        )
        assert outcome.exit_code == 0, outcome.output
        with self.api() as client:
            self.create_incident(client, "acme", "Elevated error rates", "We are looking into it.")
            self.create_window(client, "acme", ["api"])


@dataclass
class Ran:
    step: Step
    stdout: str
    stderr: str


@dataclass
class Reader:
    """One reader going through one document, top to bottom."""

    world: World
    doc: str
    blocks: list[Block]
    workdir: Path
    fixture: Callable[[str], Any]  # another fixture of the test suite, by name
    namespace: dict[str, Any] = field(default_factory=dict)
    ran: list[Ran] = field(default_factory=list)  # every shell command run so far
    state: dict[str, Any] = field(default_factory=dict)  # what one block leaves for another
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def clarion(self, *args: str, code: int = 0, **env: str) -> Result:
        """``clarion ARGS`` in the working directory (click's runner), as the shell would."""
        with contextlib.chdir(self.workdir):
            outcome = CliRunner().invoke(cli, list(args), env=self.world.settings_env(**env))
        assert outcome.exit_code == code, (args, outcome.stdout, outcome.stderr, outcome.exception)
        return outcome

    def process(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``clarion ARGS`` as a process of its own, which must succeed."""
        done = subprocess.run(
            [sys.executable, "-m", "clarion", *args],
            cwd=self.workdir,
            env=self.shell_env(**env),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def shell_env(self, **more: str) -> dict[str, str]:
        """The reader's shell: the server's settings, and ``clarion`` on the ``PATH``."""
        return cli_environment(
            self.world.database_url,
            CLARION_BASE_URL=self.world.base_url,
            CLARION_SECRET_KEY=SECRET_KEY,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **more,
        )

    def run_python(self, block: Block, **given: Any) -> None:
        code = self.world.localise(block.text)
        if TOKEN_PLACEHOLDER in code:
            code = code.replace(TOKEN_PLACEHOLDER, repr(self.world.key(name="docs reader")))
        self.namespace.update(given)
        exec(compile(code, str(block), "exec"), self.namespace)

    def run_shell(self, block: Block) -> list[Ran]:
        """Every command of the block, in one ``sh -e``; each must succeed, and the output the
        block shows for it must match the real one in substance."""
        steps = console_steps(block.text) if block.info == "console" else sh_steps(block.text)
        script = "".join(
            f"echo '{STEP_MARK}'; echo '{STEP_MARK}' >&2\n{self.world.localise(s.command)}\n"
            for s in steps
        )
        done = subprocess.run(
            ["sh", "-e", "-c", script],
            cwd=self.workdir,
            env=self.shell_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (str(block), done.stdout, done.stderr)
        outs = done.stdout.split(STEP_MARK + "\n")[1:]
        errs = done.stderr.split(STEP_MARK + "\n")[1:]
        assert len(outs) == len(errs) == len(steps), (str(block), done.stdout, done.stderr)
        ran = [Ran(step, out, err) for step, out, err in zip(steps, outs, errs, strict=True)]
        for each in ran:
            check_shown(block, each)
        self.ran += ran
        return ran

    def apply(self, block: Block) -> None:
        """A ``clarion apply`` file: planned with ``--dry-run``, applied (printing exactly the
        plan), and applied again (``no changes``)."""
        (self.workdir / "pages.yaml").write_text(block.text)
        plan = self.clarion("apply", "--dry-run", "pages.yaml")
        assert plan.stderr.endswith("dry run: nothing was changed\n"), plan.stderr
        done = self.clarion("apply", "pages.yaml")
        assert done.stdout == plan.stdout, (plan.stdout, done.stdout)
        assert self.clarion("apply", "pages.yaml").stdout == "no changes\n"

    def check_synopsis(self, block: Block) -> None:
        """Each usage line names a command whose ``--help`` lists its options and choices."""
        for line in block.text.splitlines():
            command, options, choices = synopsis_parts(line)
            shown = self.clarion(*command, "--help").stdout
            for word in options + choices:
                assert word in shown, f"{block}: `clarion {' '.join(command)}` has no {word}"

    def check_links(self, block: Block) -> None:
        """Every URL of a Markdown snippet loads (an image as an image)."""
        for url in re.findall(r"\((https?://[^)\s]+)\)", block.text):
            answer = httpx.get(self.world.localise(url), timeout=30)
            assert answer.status_code == 200, (url, answer.status_code)
            if url.endswith(".svg"):
                assert answer.headers["content-type"].startswith("image/svg+xml")


def is_apply_file(block: Block) -> bool:
    if block.info != "yaml":
        return False
    data = yaml.safe_load(block.text)
    return isinstance(data, dict) and bool(data) and set(data) <= {"components", "status_pages"}


def check_shown(block: Block, ran: Ran) -> None:
    """The output a block shows for a command, against what it really printed."""
    if not ran.step.shown:
        return
    where = f"{block}, `{ran.step.command}`"
    data = json_shown(ran.step.shown)
    if data is not None:
        problems = same_shape(data, json.loads(ran.stdout))
        assert not problems, (where, problems, ran.stdout)
        return
    for line in ran.step.shown:
        text, stream = split_annotation(line)
        pattern = line_pattern(text)
        source = {"stdout": ran.stdout, "stderr": ran.stderr}.get(
            stream or "", ran.stdout + ran.stderr
        )
        assert any(pattern.fullmatch(real.strip()) for real in source.splitlines()), (
            where,
            f"shows {text!r} on {stream or 'its output'}, which printed:",
            ran.stdout,
            ran.stderr,
        )
        if stream == "stdout" and line.rstrip().endswith("alone"):
            assert len(ran.stdout.strip().splitlines()) == 1, (where, ran.stdout)
