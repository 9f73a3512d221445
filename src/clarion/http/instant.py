"""Answers written from the HTTP parser's callback, for requests the app can answer at once.

During an outage thousands of readers refresh the same public page; its bytes are cached and
the app can answer such a request without awaiting anything (``PublicSite.hot_answer``). Run
as an ASGI request, that answer still pays for uvicorn's per-request machinery: a scope, a
request/response cycle with its event, a task on the event loop, the ASGI ``send`` calls that
check every header. ``protocol_for(app)`` is uvicorn's own httptools protocol with one change:
when the request line and headers of a ``GET`` or ``HEAD`` are parsed and nothing else is in
flight on the connection, it asks the app's ``instant_answer(scope)`` and, given an answer,
writes it to the socket there and then. Everything else, and every case this module does not
handle exactly as uvicorn would (a request body, an upgrade, pipelining behind an unfinished
response, a paused writer, an access log to write, a concurrency limit, any exception), takes
uvicorn's ordinary path unchanged.

The bytes on the wire are those uvicorn writes for the same ASGI answer: its status line, its
default headers (``date``), the answer's headers, ``connection: close`` when the connection is
not kept alive, and no body for ``HEAD``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

#: ``instant_answer(scope) -> (status, headers, body) | None``: the scope has ``method``,
#: ``path``, ``raw_path``, ``query_string``, ``headers`` and ``http_version``; the call must
#: not await, block or change anything an ASGI request would not.
InstantAnswer = Callable[[dict[str, Any]], "tuple[int, list[tuple[bytes, bytes]], bytes] | None"]


class _Answered:
    """Stands for the request cycle of an answered request: the protocol's other callbacks
    (body, message complete, connection lost, shutdown) see a finished response."""

    response_complete = True
    disconnected = False
    keep_alive = True

    class _NoEvent:
        def set(self) -> None:
            pass

    message_event = _NoEvent()


_ANSWERED = _Answered()


def with_instant_answers(options: dict[str, Any], app: Any) -> dict[str, Any]:
    """uvicorn's ``options`` with ``http`` set to ``protocol_for(app)``, when there is one."""
    protocol = protocol_for(app)
    return options if protocol is None else {**options, "http": protocol}


def protocol_for(app: Any) -> type[Any] | None:
    """uvicorn's httptools protocol answering ``app.state.instant_answer``'s requests itself,
    or None (uvicorn's default) when the app has none or httptools is not installed."""
    answer_of: InstantAnswer | None = getattr(getattr(app, "state", None), "instant_answer", None)
    if answer_of is None:
        return None
    try:
        import httptools
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn without httptools
        return None
    instant: InstantAnswer = answer_of

    class InstantProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            try:
                answer = self._answer()
            except Exception:  # uvicorn's path answers it (and reports what went wrong)
                answer = None
            if answer is None:
                super().on_headers_complete()
            else:
                self._write(*answer)

        def _answer(self) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
            """The app's answer, when this request may be answered here; else None."""
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                return None  # a pipelined request behind an unfinished response
            if self.pipeline or self.limit_concurrency is not None:
                return None
            if self.access_log and self.access_logger.isEnabledFor(logging.INFO):
                return None  # uvicorn's path writes the access log line
            if self.flow.write_paused or self.transport.is_closing():
                return None
            parser = self.parser
            method = parser.get_method()
            if method != b"GET" and method != b"HEAD":
                return None
            if parser.should_upgrade():
                return None
            for name, value in self.headers:
                if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                    return None  # a body to read: uvicorn's path
            http_version = parser.get_http_version()
            url = httptools.parse_url(self.url)
            raw_path = url.path
            path = raw_path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            scope = {
                "method": method.decode("ascii"),
                "path": self.root_path + path,
                "raw_path": self.root_path.encode("ascii") + raw_path,
                "query_string": url.query or b"",
                "headers": self.headers,
                "http_version": http_version,
            }
            return instant(scope)

        def _write(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            """Send the answer as uvicorn would, then finish the request as uvicorn does."""
            parser = self.parser
            keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
            out = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                out += (name, b": ", value, b"\r\n")
            for name, value in headers:
                out += (name, b": ", value, b"\r\n")
            if not keep_alive:
                out.append(b"connection: close\r\n")
            out.append(b"\r\n")
            if parser.get_method() == b"GET":
                out.append(body)
            self.transport.write(b"".join(out))
            self.cycle = _ANSWERED  # type: ignore[assignment]
            if not keep_alive:
                self.transport.close()
            self.on_response_complete()

    return InstantProtocol
