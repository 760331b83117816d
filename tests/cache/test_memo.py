"""The hit path's memo caches keep a result only once its key comes back."""

from __future__ import annotations

import pytest

from cache.memo import second_sight


class Counting:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def __call__(self, *args: object) -> str:
        self.calls.append(args)
        return "-".join(map(str, args))


def test_a_key_is_kept_on_its_second_sighting_and_then_never_recomputed() -> None:
    fn = Counting()
    memo = second_sight(8)(fn)
    assert memo("a") == "a" and len(memo.kept) == 0  # seen once: computed, not kept
    assert memo("a") == "a" and len(memo.kept) == 1  # seen again: kept
    assert memo("a") == "a" and memo("a") == "a"
    assert fn.calls == [("a",), ("a",)]


def test_several_arguments_make_one_key() -> None:
    fn = Counting()
    memo = second_sight(8)(fn)
    for _ in range(3):
        assert memo("k", "webp", 3) == "k-webp-3"
    assert memo("k", "avif", 3) == "k-avif-3"
    assert fn.calls == [("k", "webp", 3), ("k", "webp", 3), ("k", "avif", 3)]


def test_one_off_keys_leave_it_nearly_empty() -> None:
    memo = second_sight(1024)(Counting())
    for i in range(20 * 1024):
        memo(f"/w_{i},h_300/products/shoe-{i}.jpg")
    # Only the doorkeeper's false positives get in: about 1.5 % of one-off keys at most, where a
    # plain LRU would be full.
    assert len(memo.kept) < 0.02 * 20 * 1024


def test_it_holds_at_most_maxsize_and_drops_the_least_recently_used() -> None:
    fn = Counting()
    memo = second_sight(4)(fn)
    for key in ("a", "b", "c", "d"):
        memo(key)
        memo(key)
    memo("a")  # a is now the most recently used
    memo("e")
    memo("e")
    assert len(memo.kept) == 4
    before = len(fn.calls)
    memo("a")
    memo("c")
    assert len(fn.calls) == before  # a and c are still kept
    memo("b")
    assert len(fn.calls) == before + 1  # b, the least recently used, was dropped


def test_failures_are_not_kept() -> None:
    calls = []

    def parse(text: str) -> str:
        calls.append(text)
        raise ValueError(text)

    memo = second_sight(8)(parse)
    for _ in range(3):
        with pytest.raises(ValueError):
            memo("bad")
    assert len(calls) == 3 and len(memo.kept) == 0


def test_the_doorkeeper_forgets_after_four_times_maxsize_first_sightings() -> None:
    fn = Counting()
    memo = second_sight(16)(fn)
    memo("x")
    for i in range(62):
        memo(f"other-{i}")
    memo("x")  # back within the window (64 new keys, itself included): kept
    memo("x")
    assert fn.calls.count(("x",)) == 2

    memo.cache_clear()
    fn.calls.clear()
    memo("x")
    # With x, 64 first sightings reset the doorkeeper; a few more keys make room for the odd
    # false positive among them (a key taken for seen is not marked).
    for i in range(63 + 8):
        memo(f"other-{i}")
    memo("x")  # new again: computed, not kept
    memo("x")  # its second sighting since the reset: kept
    memo("x")
    assert fn.calls.count(("x",)) == 3


def test_clear_forgets_results_and_sightings() -> None:
    memo = second_sight(8)(Counting())
    memo("a")
    memo("a")
    memo.cache_clear()
    memo("a")
    assert len(memo.kept) == 0


def test_decorator_form() -> None:
    @second_sight(maxsize=2)
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42 and double(21) == 42 and len(double.kept) == 1
