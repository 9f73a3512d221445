"""The console benchmark: ``uv run python -m bench.console`` (or ``make bench-console``).

For each backend, in one run, on loopback:

1. A fresh database with one page of 100 components, 10,000 incidents (with their updates
   and impacts) and 50,000 confirmed e-mail subscribers (one in five following only one or
   two of the first ten components), a publisher key and a console user
   (``clarion users create --password-stdin``).
2. ``clarion serve`` in a subprocess; one signed-in browser (its own cookies, the CSRF token
   its pages give), sequential requests:

   - **the overview** (``GET /admin``) and **an incident's screen**
     (``GET /admin/incidents/{id}``): p99 of ``--reads`` requests each, after a warm-up;
   - **declaring an incident from the console** (``POST /admin/incidents/new``, the form as
     the declare screen gives it, two components impacted) against **the API's create**
     (``POST /v2/status_page_incidents`` with the same content), alternately, ``--declares``
     each: the console's median and p99 ÷ the API's. Neither notifies (so both measure the
     write, not a fan-out to 50,000 subscribers).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import client, notifications, report, seed, server
from bench.report import Figure, Target

SCREEN_P99 = Target(100.0)
DECLARE_RATIO = Target(2.0)
COMPONENTS = 100
INCIDENTS = 10_000
SUBSCRIBERS = 50_000
EMAIL = "bench@console.example"
PASSWORD = "a long bench password nobody guesses"
_FIELD = r'name="{}" value="([^"]*)"'


def declaration() -> str:
    keys = [f"c{i:03d}" for i in range(COMPONENTS)]
    components = "".join(f"  - {{key: {k}, name: Component {k}}}\n" for k in keys)
    items = "".join(f"      - component: {k}\n" for k in keys)
    page = "status_pages:\n  - slug: bench\n    name: Bench\n    items:\n"
    return f"components:\n{components}{page}{items}"


@dataclass
class Options:
    reads: int = 300
    declares: int = 100


def field(html: str, name: str) -> str:
    found = re.search(_FIELD.format(name), html)
    if found is None:
        raise RuntimeError(f"no {name} field on the page")
    return found.group(1)


def timed(call: httpx.Client, method: str, path: str, expect: int, **kwargs: object) -> float:
    started = time.perf_counter()
    answer = call.request(method, path, **kwargs)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != expect:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
    return elapsed


def p(values: list[float], q: float) -> float:
    return client.percentile(sorted(values), q)


def run_backend(backend: str, log_dir: Path, opts: Options) -> list[Figure]:
    print(f"\n== console, {backend} ==", flush=True)
    now = datetime.now(UTC)
    folder = log_dir / backend
    folder.mkdir(parents=True)
    with seed.declared_database(backend, folder, declaration()) as (raw, engine):
        page = seed.find_page(engine)
        seed.seed_incidents(engine, page, INCIDENTS, now, seed=INCIDENTS)
        # One in five follows only some components: one or two of the first ten.
        some = page.component_ids[:10]
        notifications.add_subscribers(
            engine,
            page.id,
            SUBSCRIBERS,
            lambda i: [] if i % 5 else sorted({some[i % 10], some[i // 10 % 10]}),
        )
        token = seed.create_keys(engine, 1, now)[0]
        server.run_cli(
            raw, "users", "create", EMAIL, "--role", "viewer", "--role",
            "status_page_publisher", "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        newest = seed.latest_incident(engine, page.id)
        print(
            f"  seeded {INCIDENTS:,} incidents, {COMPONENTS} components,"
            f" {SUBSCRIBERS:,} subscribers (one in five following some components)"
        )
        with (
            server.serve(raw, folder / "serve.log") as srv,
            httpx.Client(base_url=srv.base_url, timeout=60) as browser,
            httpx.Client(
                base_url=srv.base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
            ) as api,
        ):
            sign_in = browser.get("/admin/sign-in").text
            timed(
                browser, "POST", "/admin/sign-in", 303,
                data={"csrf_token": field(sign_in, "csrf_token"), "email": EMAIL,
                      "password": PASSWORD, "next": ""},
            )  # fmt: skip
            screens = {"overview": "/admin", "incident screen": f"/admin/incidents/{newest}"}
            reads: dict[str, list[float]] = {}
            for name, path in screens.items():
                for _ in range(20):
                    timed(browser, "GET", path, 200)
                reads[name] = [timed(browser, "GET", path, 200) for _ in range(opts.reads)]
                print(
                    f"    {name:<16} n={opts.reads}  p50 {p(reads[name], 50):7.2f}"
                    f"  p99 {p(reads[name], 99):7.2f} ms",
                    flush=True,
                )
            console_ms, api_ms = declare_both(browser, api, page, opts.declares)
    found = [
        Figure(f"{name} p99, {INCIDENTS:,} incidents, {COMPONENTS} components, "
               f"{SUBSCRIBERS:,} subscribers", backend, p(values, 99), "ms", SCREEN_P99,
               note=f"p50 {p(values, 50):.2f} ms")
        for name, values in reads.items()
    ]  # fmt: skip
    for q in (50, 99):
        found.append(
            Figure(
                f"declare an incident, console / API create, p{q}",
                backend,
                p(console_ms, q) / p(api_ms, q),
                "x",
                DECLARE_RATIO,
                note=f"{p(console_ms, q):.2f} / {p(api_ms, q):.2f} ms",
            )
        )
    return found


def declare_both(
    browser: httpx.Client, api: httpx.Client, page: seed.Page, count: int
) -> tuple[list[float], list[float]]:
    """``count`` declarations through the console and as many API creates, alternately."""
    first, second = page.component_ids[:2]
    console_ms: list[float] = []
    api_ms: list[float] = []
    for n in range(count + 5):
        form = browser.get(f"/admin/incidents/new?status_page_id={page.id}").text
        data = {
            "csrf_token": field(form, "csrf_token"),
            "idempotency_key": field(form, "idempotency_key"),
            "status_page_id": page.id,
            "name": f"Declared {n}",
            "incident_status": "investigating",
            "message": "We are **looking** into it.",
            f"impact-{first}": "partial_outage",
            f"impact-{second}": "degraded_performance",
            "action": "publish",
        }
        body = {
            "status_page_id": page.id,
            "name": f"Created {n}",
            "incident_status": "investigating",
            "message": "We are **looking** into it.",
            "notify_subscribers": False,
            "component_statuses": [
                {"component_id": first, "component_status": "partial_outage"},
                {"component_id": second, "component_status": "degraded_performance"},
            ],
            "idempotency_key": str(uuid.uuid4()),
        }
        took_console = timed(browser, "POST", "/admin/incidents/new", 303, data=data)
        took_api = timed(api, "POST", "/v2/status_page_incidents", 201, json=body)
        if n >= 5:  # the first few warm both paths up
            console_ms.append(took_console)
            api_ms.append(took_api)
    print(
        f"    declare          n={count}  console p50 {p(console_ms, 50):.2f} p99"
        f" {p(console_ms, 99):.2f} ms; API create p50 {p(api_ms, 50):.2f} p99"
        f" {p(api_ms, 99):.2f} ms",
        flush=True,
    )
    return console_ms, api_ms


def run(backends: list[str], log_dir: Path, opts: Options | None = None) -> list[Figure]:
    return [f for b in backends for f in run_backend(b, log_dir, opts or Options())]


def main(argv: list[str] | None = None) -> int:
    cli = report.parser("python -m bench.console", __doc__)
    defaults = Options()
    cli.add_argument("--reads", type=int, default=defaults.reads, help="per screen")
    cli.add_argument("--declares", type=int, default=defaults.declares, help="per path")
    args = cli.parse_args(argv)
    opts = Options(args.reads, args.declares)
    return report.run_and_report(lambda b, folder: run(b, folder, opts), args.backend)


if __name__ == "__main__":
    raise SystemExit(main())
