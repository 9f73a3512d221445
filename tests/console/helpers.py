"""Driving the console over raw HTTP as a browser does: cookies kept per client, forms posted
with the CSRF token the page gave."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from clarion.audit import Actor
from clarion.console import users
from clarion.context import AppContext
from tests.harness import LiveServer

PASSWORD = "violet kettle drums at noon"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def new_user(server: LiveServer, *roles: str, password: str = PASSWORD) -> str:
    """A fresh active user with ``roles`` (default: viewer); returns the e-mail address."""
    email = f"person-{uuid.uuid4().hex[:8]}@example.test"

    async def body(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await users.create_user(
                session,
                email,
                password,
                list(roles or ("viewer",)),
                ctx.clock.now(),
                actor=Actor.cli("tests"),
            )

    server.call(body)
    return email


def random_address() -> str:
    tag = uuid.uuid4().int
    return f"10.{tag % 250}.{(tag >> 8) % 250}.{(tag >> 16) % 250 + 1}"


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


class Console:
    """One browser: its own cookies and its own client address (a random one unless given:
    the test server believes ``X-Forwarded-For`` from loopback, as behind a proxy), so that
    the tests' sign-ins do not share one address's throttle."""

    def __init__(self, server: LiveServer, address: str | None = None) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []
        self.address = address or random_address()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.address:
            headers["X-Forwarded-For"] = self.address
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.http.request(method, path, headers=headers, **kwargs)
        for value in response.headers.get_list("set-cookie"):
            self.set_cookies.append(value)
            name, rest = value.split("=", 1)
            if "max-age=0" in value.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = rest.split(";", 1)[0]
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, data=data, **kwargs)

    def csrf(self, path: str = "/admin/sign-out") -> str:
        """The CSRF token the page at ``path`` puts in its forms."""
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code)
        return csrf_of(page.text)

    def sign_in(self, email: str, password: str = PASSWORD, next_path: str = "") -> httpx.Response:
        token = self.csrf("/admin/sign-in")
        data = {"csrf_token": token, "email": email, "password": password, "next": next_path}
        return self.post("/admin/sign-in", data)

    def submit(
        self, path: str, data: dict[str, Any], page: str = "/admin/sign-out"
    ) -> httpx.Response:
        """Post ``data`` to ``path`` with the CSRF token of the form on ``page``."""
        return self.post(path, {"csrf_token": self.csrf(page), **data})

    @property
    def session(self) -> str | None:
        return self.cookies.get("clarion_console")

    def close(self) -> None:
        self.http.close()


def signed_in(server: LiveServer, *roles: str, address: str | None = None) -> Console:
    """A browser signed in as a fresh user with ``roles``."""
    console = Console(server, address)
    answer = console.sign_in(new_user(server, *roles))
    assert answer.status_code == 303, answer.text
    return console
