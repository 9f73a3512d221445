"""Answers written from the HTTP parser's callback, for requests the app can answer at once.

During an outage thousands of readers refresh the same public page; its bytes are cached and
the app can answer such a request without awaiting anything (``PublicSite.hot_wire``). Run
as an ASGI request, that answer still pays for uvicorn's per-request machinery: a scope, a
request/response cycle with its event, a task on the event loop, the ASGI ``send`` calls that
check every header. ``protocol_for(app)`` is uvicorn's own httptools protocol with two
changes. When the request line and headers of a ``GET`` or ``HEAD`` are parsed and nothing
else is in flight on the connection, it asks the app's ``instant_answer(scope)`` and, given an
answer, writes it to the socket there and then (uvicorn's ASGI scope is made only for the
requests it does not answer). Everything else, and every case this module does not handle
exactly as uvicorn would (a request body, an upgrade, pipelining behind an unfinished
response, a paused writer, an access log to write, a concurrency limit, any exception), takes
uvicorn's ordinary path unchanged. And the keep-alive timeout is one lazy timer per
connection (see ``InstantProtocol``), closing idle connections when uvicorn would.

The bytes on the wire are those uvicorn writes for the same ASGI answer: its status line, its
default headers (``date``), the answer's headers, ``connection: close`` when the connection is
not kept alive, and no body for ``HEAD``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

#: ``instant_answer(scope) -> (status, header lines, body) | None``: the scope has ``method``,
#: ``path``, ``raw_path``, ``query_string``, ``headers`` and ``http_version``; the header
#: lines are the answer's headers as written on the wire (``name: value\\r\\n`` each, as
#: uvicorn writes the same ASGI headers); the call must not await, block or change anything
#: an ASGI request would not.
InstantAnswer = Callable[[dict[str, Any]], "tuple[int, bytes, bytes] | None"]

#: Bodies at least this long are handed to the transport as they are, not joined to the head
#: (a copy of a large body costs more than a second buffer for the transport).
_JOIN_BELOW = 16 * 1024


def header_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    """``headers`` as uvicorn writes them: ``name: value\\r\\n`` each."""
    return b"".join(b"%s: %s\r\n" % pair for pair in headers)


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
    #: uvicorn's default headers (``date``) and their lines, made once per list.
    defaults: list[Any] = [None, b""]

    class InstantProtocol(HttpToolsProtocol):
        """uvicorn's protocol answering what ``instant`` can, with a lazy keep-alive timer.

        uvicorn cancels the keep-alive timer when data arrives and arms a new one when each
        response completes: two timer operations per request, a quarter of the work of a hot
        answer. Here the connection notes when it fell idle, and one timer per connection,
        when due, closes it if it has been idle for ``timeout_keep_alive`` since, or waits
        for the rest of that time: the same closing as uvicorn's, at the same moment.
        """

        _idle_since: float | None = None

        def _unset_keepalive_if_required(self) -> None:
            self._idle_since = None  # busy: the timer, when due, leaves the connection open

        def _keep_alive_due(self) -> None:
            self.timeout_keep_alive_task = None
            idle_since = self._idle_since
            if idle_since is None:
                return  # a request is in flight; its completion arms the timer again
            left = idle_since + self.timeout_keep_alive - self.loop.time()
            if left > 0:
                self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
            else:
                self.timeout_keep_alive_handler()

        def on_response_complete(self) -> None:
            # uvicorn's, but with the lazy keep-alive timer.
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self._idle_since = None
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
                return
            self._idle_since = self.loop.time()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self._keep_alive_due
                )

        def connection_lost(self, exc: Exception | None) -> None:
            task = self.timeout_keep_alive_task
            if task is not None:
                task.cancel()
                self.timeout_keep_alive_task = None
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            # uvicorn's, but its ASGI scope is made only for requests not answered here.
            self.url = b""
            self.expect_100_continue = False
            self.headers = []
            self.scope = None  # type: ignore[assignment]

        def on_headers_complete(self) -> None:
            try:
                answer = self._answer()
            except Exception:  # uvicorn's path answers it (and reports what went wrong)
                answer = None
            if answer is None:
                # The scope uvicorn's on_message_begin makes, for what was parsed since.
                url, headers, expect = self.url, self.headers, self.expect_100_continue
                super().on_message_begin()
                self.url, self.headers, self.expect_100_continue = url, headers, expect
                self.scope["headers"] = headers
                super().on_headers_complete()
            else:
                self._write(*answer)

        def _answer(self) -> tuple[int, bytes, bytes] | None:
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

        def _write(self, status: int, lines: bytes, body: bytes) -> None:
            """Send the answer as uvicorn would, then finish the request as uvicorn does."""
            parser = self.parser
            keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
            default = self.server_state.default_headers  # a new list when the date changes
            if default is not defaults[0]:
                defaults[:] = default, header_lines(default)
            head = STATUS_LINE[status] + defaults[1] + lines
            head += b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
            transport = self.transport
            if not body or parser.get_method() != b"GET":
                transport.write(head)
            elif len(body) < _JOIN_BELOW:
                transport.write(head + body)
            else:  # not copied once more to join it: the transport writes both at once
                transport.writelines((head, body))
            self.cycle = _ANSWERED  # type: ignore[assignment]
            if not keep_alive:
                self.transport.close()
            self.on_response_complete()

    return InstantProtocol
