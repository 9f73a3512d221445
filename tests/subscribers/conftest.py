"""A Clarion wired to a real SMTP sink on loopback; the outbox is drained by the tests."""

from tests.subscribers.fixtures import http, mail_server, sink

__all__ = ["http", "mail_server", "sink"]
