"""Bounded memo caches for the hit path that keep a result only once its key comes back.

The hit path memoises parses, keys and encoded headers per URL, variant or source. Behind a CDN
most URLs an origin sees are asked once, so a plain LRU filled up with one-off entries that were
never used again: about 8 MiB per worker of small objects (benchmarks/README.md, finding 27).
A doorkeeper (as in TinyLFU) remembers which keys were seen, as two bits each in a fixed bit
array, and an entry is kept only on its key's second sighting. False positives admit the odd
one-off key, which costs nothing but its room. The bit array is one allocation (32 KB for 4096
entries), not an object per key.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar, cast

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

_MISSING: Any = object()


class Memo(Protocol[R_co]):
    kept: OrderedDict[Hashable, Any]

    def __call__(self, *args: Any) -> R_co: ...

    def cache_clear(self) -> None: ...


class Doorkeeper:
    """Which keys were seen among the last `window` new ones, approximately: two bits per key."""

    def __init__(self, window: int) -> None:
        self.window = window
        # 16 bits per key of the window: when it resets, an eighth of the bits are set, and a
        # new key passes for a seen one about 1.5 % of the time.
        self._mask = max(1024, 1 << (16 * window - 1).bit_length()) - 1
        self._bits = bytearray((self._mask + 1) // 8)
        self._marked = 0

    def seen(self, key: Hashable) -> bool:
        """Whether `key` was marked since the last reset; marks it if not."""
        h = hash(key)
        a = h & self._mask
        b = (h >> 24) & self._mask
        bits = self._bits
        if bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1:
            return True
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        self._marked += 1
        if self._marked >= self.window:
            # Forget every sighting, so the array never fills up: a key first seen just before
            # needs one more sighting to be kept.
            self.reset()
        return False

    def reset(self) -> None:
        self._bits = bytearray(len(self._bits))
        self._marked = 0


def second_sight(maxsize: int) -> Callable[[Callable[..., R]], Memo[R]]:
    """Memoise a function of positional, hashable arguments: up to `maxsize` results, least
    recently used out first, each kept only if its key came back within 4 x maxsize new keys."""

    def wrap(fn: Callable[..., R]) -> Memo[R]:
        kept: OrderedDict[Hashable, R] = OrderedDict()
        get, move = kept.get, kept.move_to_end
        door = Doorkeeper(4 * maxsize)

        def admit(key: Hashable, result: R) -> None:
            if door.seen(key):
                kept[key] = result
                if len(kept) > maxsize:
                    kept.popitem(last=False)

        # Two shapes, because this runs several times per cache hit: a one-argument function
        # needs no key tuple (113-117 against 95 ns for functools.lru_cache; 281-311 against 83
        # ns with five arguments, measured 2026-12-04).
        params = list(inspect.signature(fn).parameters.values())
        single = len(params) == 1 and params[0].kind in (params[0].POSITIONAL_ONLY,
                                                         params[0].POSITIONAL_OR_KEYWORD)
        if single:
            def memo(key: Hashable) -> R:
                value = get(key, _MISSING)
                if value is not _MISSING:
                    move(key)
                    return value  # type: ignore[no-any-return]
                result = fn(key)
                admit(key, result)
                return result
        else:
            def memo(*args: Hashable) -> R:  # type: ignore[misc]
                value = get(args, _MISSING)
                if value is not _MISSING:
                    move(args)
                    return value  # type: ignore[no-any-return]
                result = fn(*args)
                admit(args, result)
                return result

        def cache_clear() -> None:
            kept.clear()
            door.reset()

        memo.kept = kept  # type: ignore[attr-defined]
        memo.cache_clear = cache_clear  # type: ignore[attr-defined]
        memo.__wrapped__ = fn  # type: ignore[attr-defined]
        memo.__doc__ = fn.__doc__
        return cast(Memo[R], memo)

    return wrap

