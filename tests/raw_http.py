"""Raw HTTP/1.x over a socket, for tests that need the exact bytes on the wire, pipelining and
connection handling (what an HTTP client library hides)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

#: Header values that differ between any two answers.
PER_REQUEST = {b"date", b"x-request-id"}


@dataclass
class Wire:
    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def stable(self) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
        """Everything but the values that change per request (names and order kept)."""
        headers = [(k, b"" if k in PER_REQUEST else v) for k, v in self.headers]
        return self.status_line, headers, self.body


class RawConnection:
    """One connection to ``127.0.0.1:port``."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, method: bytes = b"GET") -> Wire:
        status_line = self.reader.readline()
        assert status_line, "the server closed the connection"
        headers = []
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.rstrip(b"\r\n").partition(b": ")
            headers.append((name, value))
        wire = Wire(status_line, headers, b"")
        length = wire.header(b"content-length")
        if method != b"HEAD" and length is not None:
            wire.body = self.reader.read(int(length))
        return wire

    def closed_by_server(self) -> bool:
        return self.reader.read(1) == b""

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def request(path: str, *lines: str, method: str = "GET", version: str = "1.1") -> bytes:
    head = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1", *lines]
    return ("\r\n".join(head) + "\r\n\r\n").encode()
