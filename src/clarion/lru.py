"""Least-recently-used stores bounded by the bytes they hold, not only by how many entries.

A count bound says nothing about memory when entries differ in size: 2,048 rendered pages may
be 20 MB or 2 GB. ``ByteLRU`` counts each entry's size (a function of its key and value, given
by its owner) and evicts the least recently used entries until the total is within its budget.
``bytes_memo`` memoises a pure function of small values (strings, numbers, dates, tuples and
frozen dataclasses of them) in one.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import fields, is_dataclass
from functools import update_wrapper
from typing import Generic, ParamSpec, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")

MIB = 1024 * 1024
#: Separates a memo's positional arguments from its keyword arguments in its keys.
_KEYWORDS = object()
#: What an entry costs besides its key and value (the dictionary's slot and links, the tuple
#: that holds a memo's arguments), counted so that many tiny entries are bounded too.
ENTRY_BYTES = 128


def footprint(value: object) -> int:
    """About how many bytes ``value`` holds: its own size, plus that of the items of a tuple
    (a named tuple too) or the fields of a dataclass. Shared objects are counted each time
    (an over-estimate)."""
    size = sys.getsizeof(value)
    if isinstance(value, tuple):
        size += sum(footprint(item) for item in value)
    elif is_dataclass(value) and not isinstance(value, type):
        size += sum(footprint(getattr(value, f.name)) for f in fields(value))
    return size


class ByteLRU(Generic[K, V]):
    """A mapping that keeps at most ``max_bytes`` of entries (and at most ``max_entries``, if
    given), the least recently used evicted first. ``size(key, value)`` is an entry's size in
    bytes; a value larger than the whole budget is not kept. Safe to use from several threads.
    """

    def __init__(
        self,
        max_bytes: int,
        size: Callable[[K, V], int],
        *,
        max_entries: int | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._size = size
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        """The sizes of the entries held, summed."""
        return self._bytes

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        # Without the lock (a hit is the common case, and often hot): each step is atomic,
        # and a key another thread removed in between is simply not moved.
        found = self._entries.get(key)
        if found is None:
            return None
        try:  # noqa: SIM105 (cheaper than contextlib.suppress on this hot path)
            self._entries.move_to_end(key)
        except KeyError:
            pass
        return found[0]

    def put(self, key: K, value: V) -> bool:
        """Keep ``value`` under ``key`` as the most recently used entry, evicting the least
        recently used ones beyond the budget; False (and nothing kept under ``key``) when the
        entry alone exceeds the budget."""
        size = self._size(key, value) + ENTRY_BYTES
        with self._lock:
            self._discard(key)
            if size > self.max_bytes or self.max_entries == 0:
                return False
            self._entries[key] = (value, size)
            self._bytes += size
            limit = self.max_entries
            while self._bytes > self.max_bytes or (
                limit is not None and len(self._entries) > limit
            ):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
            return True

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value, or None."""
        with self._lock:
            return self._discard(key)

    def _discard(self, key: K) -> V | None:
        found = self._entries.pop(key, None)
        if found is None:
            return None
        self._bytes -= found[1]
        return found[0]

    def keys(self) -> list[K]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def values(self) -> list[V]:
        """The values held, least recently used first."""
        with self._lock:
            return [value for value, _ in self._entries.values()]

    def items(self) -> list[tuple[K, V]]:
        """The entries held, least recently used first."""
        with self._lock:
            return [(key, value) for key, (value, _) in self._entries.items()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())


def _memo_size(key: tuple[object, ...], value: object) -> int:
    return footprint(key) + footprint(value)


class BytesMemo(Generic[P, R]):
    """``function`` memoised in a ``ByteLRU`` (see ``bytes_memo``)."""

    def __init__(self, function: Callable[P, R], max_bytes: int) -> None:
        self.function = function
        self.store: ByteLRU[tuple[object, ...], tuple[R]] = ByteLRU(max_bytes, _memo_size)
        update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        key: tuple[object, ...] = (*args, _KEYWORDS, *sorted(kwargs.items())) if kwargs else args
        found = self.store.get(key)
        if found is not None:
            return found[0]
        value = self.function(*args, **kwargs)
        self.store.put(key, (value,))
        return value


def bytes_memo(max_bytes: int) -> Callable[[Callable[P, R]], BytesMemo[P, R]]:
    """Memoise a pure function of small hashable values (strings, numbers, dates, tuples and
    frozen dataclasses of them; never objects that hold more than they show) in at most
    ``max_bytes``, counting each entry as its arguments' size plus its result's."""

    def wrap(function: Callable[P, R]) -> BytesMemo[P, R]:
        return BytesMemo(function, max_bytes)

    return wrap
