"""Stores bounded by bytes: eviction by recency within a budget, values too large for it, the
count bound, memos of pure functions, and many threads at once."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import date

from clarion.lru import ENTRY_BYTES, ByteLRU, bytes_memo, footprint


def _by_length(_key: str, value: bytes) -> int:
    return len(value)


def test_the_least_recently_used_entries_go_first_once_the_budget_is_exceeded() -> None:
    store: ByteLRU[str, bytes] = ByteLRU(3 * (100 + ENTRY_BYTES), _by_length)
    for key in "abc":
        assert store.put(key, b"x" * 100)
    assert store.get("a") == b"x" * 100  # "a" is now the most recently used
    store.put("d", b"y" * 100)
    assert store.get("b") is None
    assert [store.get(k) is not None for k in "acd"] == [True, True, True]
    assert store.held_bytes == 3 * (100 + ENTRY_BYTES)
    store.put("e", b"z" * 250)  # worth two and a half of the others: two more go
    assert store.keys() == ["d", "e"]
    assert store.held_bytes == (100 + ENTRY_BYTES) + (250 + ENTRY_BYTES)


def test_a_value_larger_than_the_budget_is_not_kept_and_drops_its_key() -> None:
    store: ByteLRU[str, bytes] = ByteLRU(1000, _by_length)
    store.put("small", b"s")
    store.put("page", b"p" * 10)
    assert not store.put("page", b"p" * 1000)
    assert store.get("page") is None
    assert store.get("small") == b"s"
    assert store.held_bytes == 1 + ENTRY_BYTES


def test_replacing_and_popping_keep_the_sum_of_sizes_exact() -> None:
    store: ByteLRU[str, bytes] = ByteLRU(10_000, _by_length)
    store.put("a", b"1" * 10)
    store.put("a", b"2" * 30)
    store.put("b", b"3" * 5)
    assert store.held_bytes == 35 + 2 * ENTRY_BYTES
    assert store.pop("a") == b"2" * 30
    assert store.pop("a") is None
    assert store.held_bytes == 5 + ENTRY_BYTES and len(store) == 1
    store.clear()
    assert store.held_bytes == 0 and len(store) == 0


def test_a_count_bound_applies_as_well_and_zero_keeps_nothing() -> None:
    store: ByteLRU[int, bytes] = ByteLRU(1 << 20, lambda _k, v: len(v), max_entries=2)
    for n in range(5):
        store.put(n, b"v")
    assert store.keys() == [3, 4]
    off: ByteLRU[int, bytes] = ByteLRU(1 << 20, lambda _k, v: len(v), max_entries=0)
    assert not off.put(1, b"v")
    assert len(off) == 0


def test_the_footprint_of_tuples_and_dataclasses_counts_what_they_hold() -> None:
    @dataclass(frozen=True)
    class Facts:
        summary: str
        day: date

    short, long = Facts("a", date(2026, 1, 1)), Facts("a" * 10_000, date(2026, 1, 1))
    assert footprint(long) - footprint(short) == 9_999
    assert footprint(("a" * 500, ("b" * 500,))) > 1000


def test_a_memo_calls_its_function_once_per_arguments_within_its_budget() -> None:
    calls: list[tuple[str, int | None]] = []

    @bytes_memo(64 * 1024)
    def shout(text: str, limit: int | None = None) -> str | None:
        calls.append((text, limit))
        return None if text == "nothing" else text.upper()[:limit]

    assert shout("hello") == "HELLO"
    assert shout("hello") == "HELLO"
    assert shout("hello", 2) == "HE"
    assert shout("hello", limit=2) == "HE"  # by keyword: a key of its own
    assert shout("nothing") is None
    assert shout("nothing") is None  # None is a result like any other
    assert calls == [("hello", None), ("hello", 2), ("hello", 2), ("nothing", None)]
    for n in range(2000):  # about 100 bytes of arguments and result each, and more
        shout(f"message number {n} " * 3)
    assert shout.store.held_bytes <= 64 * 1024
    assert 100 < len(shout.store) < 2000
    assert shout.__name__ == "shout"


def test_a_memo_never_keeps_a_result_larger_than_its_budget() -> None:
    @bytes_memo(4096)
    def repeat(text: str) -> str:
        return text * 10_000

    assert repeat("ab") == "ab" * 10_000
    assert len(repeat.store) == 0 and repeat.store.held_bytes == 0


def test_many_threads_at_once_leave_it_consistent_and_within_its_budget() -> None:
    store: ByteLRU[int, bytes] = ByteLRU(50_000, _by_length)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def churn(offset: int) -> None:
        try:
            start.wait()
            for n in range(3000):
                key = (n * 7 + offset) % 400
                store.put(key, b"v" * (key % 300))
                store.get((key + 1) % 400)
                if n % 50 == 0:
                    store.pop(key)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between almost any two steps
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    held = store.items()
    assert store.held_bytes == sum(len(value) + ENTRY_BYTES for _, value in held)
    assert store.held_bytes <= 50_000
