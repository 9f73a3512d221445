"""``clarion demo`` as a user runs it: a subprocess in a process group of its own, its banner
first, its one key named ``demo``, where its mail goes, and a clean stop on SIGINT or SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.console.helpers import Console
from tests.contract.cli import cli_environment, run_cli
from tests.harness import free_port, fresh_database, live_server

BANNER = "Clarion demo is ready."


def banner_token(output: str) -> str:
    found = re.search(r"Demo API key: (clarion_\S+)", output)
    assert found, output
    return found.group(1)


def banner_sign_in(output: str) -> tuple[str, str]:
    found = re.search(r"Console: +http://\S+/admin \(e-mail (\S+), password (\S+)\)", output)
    assert found, output
    return found.group(1), found.group(2)


def live_demo_keys(url: str) -> list[str]:
    lines = run_cli(url, "keys", "list").stdout.splitlines()
    return [line for line in lines if line.split()[1] == "demo" and line.endswith("active")]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_demo_prints_its_banner_first_serves_on_its_port_and_stops_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with fresh_database(str(tmp_path)) as url:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "clarion", "demo", "--port", str(port)],
                env=cli_environment(url),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as a shell gives a job
            )
        try:
            deadline = time.monotonic() + 120
            while "Stop it with Ctrl-C." not in log.read_text():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            output = log.read_text()
            # Nothing before the banner (no migration log lines), and it names this port.
            assert output.lstrip().startswith(BANNER), output
            assert f"Status page:  {base}/acme" in output
            token = banner_token(output)
            answer = httpx.get(f"{base}/acme", timeout=30)
            assert answer.status_code == 200 and "Acme Cloud" in answer.text
            # The base URL follows the port: the API's public_url and the feed's links.
            pages = httpx.get(
                f"{base}/v2/status_pages",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ).json()["status_pages"]
            assert [page["public_url"] for page in pages] == [f"{base}/acme"]
            assert f'href="{base}/acme' in httpx.get(f"{base}/acme/feed.atom", timeout=30).text
            os.killpg(process.pid, stop_signal)
            assert process.wait(30) == 0, log.read_text()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = log.read_text()
    assert "Traceback" not in output and "Error" not in output, output


def test_demo_keeps_one_key_named_demo_with_a_new_token_each_run(tmp_path: Path) -> None:
    with fresh_database(str(tmp_path)) as url:
        first = run_cli(url, "demo", "--no-serve").stdout
        second = run_cli(url, "demo", "--no-serve").stdout
        assert banner_token(first) != banner_token(second)
        assert len(live_demo_keys(url)) == 1
        entries = json.loads(run_cli(url, "audit", "list", "--object", "api_key", "--json").stdout)
        assert sorted(entry["action"] for entry in entries) == ["api_key.create", "api_key.renew"]
        assert banner_token(second) not in json.dumps(entries)
        with live_server(url) as server:
            identity = f"{server.base_url}/v1/identity"
            for token, status in ((banner_token(first), 401), (banner_token(second), 200)):
                answer = httpx.get(identity, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == status, answer.text
        assert run_cli(url, "keys", "revoke", "demo").stdout.startswith("revoked ")
        assert live_demo_keys(url) == []
        run_cli(url, "demo", "--no-serve")
        assert len(live_demo_keys(url)) == 1


def test_demo_says_where_its_mail_goes_without_showing_the_smtp_password(
    tmp_path: Path,
) -> None:
    with fresh_database(str(tmp_path)) as url:
        nowhere = run_cli(url, "demo", "--no-serve").stdout
        assert "E-mail:       none is sent (CLARION_SMTP_URL is not set)" in nowhere
        assert "set CLARION_SMTP_URL=smtp://HOST:PORT" in nowhere
        relayed = subprocess.run(
            [sys.executable, "-m", "clarion", "demo", "--no-serve"],
            capture_output=True,
            text=True,
            env=cli_environment(url, CLARION_SMTP_URL="smtp://mailer:s3cret-pass@127.0.0.1:2525"),
            timeout=120,
            check=False,
        )
    assert relayed.returncode == 0, relayed.stderr
    assert "E-mail:       sent through smtp://127.0.0.1:2525 (CLARION_SMTP_URL)" in relayed.stdout
    assert "s3cret-pass" not in relayed.stdout + relayed.stderr


def test_demo_prints_a_console_sign_in_with_a_new_password_each_run(tmp_path: Path) -> None:
    with fresh_database(str(tmp_path)) as url:
        first = banner_sign_in(run_cli(url, "demo", "--no-serve").stdout)
        run_cli(url, "users", "deactivate", first[0])
        second = banner_sign_in(run_cli(url, "demo", "--no-serve").stdout)
        assert first[0] == second[0] == "demo@example.com"
        assert first[1] != second[1]
        with live_server(url) as server:
            for (email, password), welcome in ((first, False), (second, True)):
                console = Console(server)
                answer = console.sign_in(email, password)
                assert (answer.status_code == 303) is welcome, answer.text
                if welcome:
                    overview = console.get(answer.headers["location"])
                    assert "Acme Cloud" in overview.text
                    form = console.get("/admin/incidents/new").text
                    assert "Declare incident" in form
                    assert "Publishing needs the" not in form  # the demo user may publish
        entries = json.loads(run_cli(url, "audit", "list", "--object", "user", "--json").stdout)
        actions = sorted(entry["action"] for entry in entries)
        assert actions == ["user.activate", "user.create", "user.deactivate", "user.reset_password"]
        assert second[1] not in json.dumps(entries)
