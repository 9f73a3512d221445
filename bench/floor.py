"""The floor under Clarion's cached answers: ``clarion serve``'s own HTTP server (granian,
embedded, set up by ``clarion.cli.http_server`` exactly as ``clarion serve`` sets it up) running
an ASGI application that does nothing but send bytes it holds.

``python -m bench.floor --port P --body identity=FILE --body gzip=FILE`` serves ``FILE``'s bytes
at every path, the ``gzip`` body (with ``content-encoding: gzip``) when the request accepts gzip.
``bench.public`` measures it beside Clarion: what Clarion's cached page costs above this is
what the framework, the middleware and the route cost; what this costs is the server's share.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def application(identity: bytes, gzipped: bytes) -> Any:
    """A bare ASGI application answering every request with the held page."""

    def start(body: bytes, coding: bytes | None) -> dict[str, Any]:
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"vary", b"accept-encoding"),
        ]
        if coding:
            headers.append((b"content-encoding", coding))
        return {"type": "http.response.start", "status": 200, "headers": headers}

    answers = {
        False: (start(identity, None), {"type": "http.response.body", "body": identity}),
        True: (start(gzipped, b"gzip"), {"type": "http.response.body", "body": gzipped}),
    }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        accepts = any(k == b"accept-encoding" and b"gzip" in v for k, v in scope["headers"])
        head, body = answers[accepts]
        await send(head)
        await send(body)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--identity", type=Path, required=True)
    parser.add_argument("--gzip", type=Path, required=True)
    args = parser.parse_args()

    from clarion.cli.http_server import http_server, serve_until_signalled
    from clarion.settings import Settings

    settings = Settings(database_url="sqlite:///unused.db", log_level="warning")
    app = application(args.identity.read_bytes(), args.gzip.read_bytes())
    serve_until_signalled(http_server(app, args.host, args.port, settings))


if __name__ == "__main__":
    main()
