"""The audit log: who wrote what, to which object, and when.

Every write service function takes an ``Actor`` and records one entry in the writing session
(``audit.service.record``). Reading: ``audit.service.list_entries(session, AuditFilter(...))``
returns entries newest first (the CLI's ``clarion audit list``, the console's screen), and
``entry_dict`` makes one JSON-ready.
"""

from __future__ import annotations

from clarion.audit.actor import AUTOMATION, Actor

__all__ = ["AUTOMATION", "Actor"]
