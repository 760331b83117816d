"""What is measured: the three miss transforms and the server scenarios built from them.

Unique variants: every miss request adds `bg_RRGGBB` with a fresh colour. The sources have no
alpha and `cover` never pads, so the background is never painted and every request costs exactly
the same transform, yet the canonical options (and so the cache key) differ each time. The run
checks this: `imgorigin_transforms_total` must grow by one per answered miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_UNIQUE = 0xFFFFFF


@dataclass(frozen=True)
class MissTransform:
    """One transform, as a URL for the server and as plain libvips arguments for the limit."""

    key: str
    title: str
    source: str
    options: str
    resize: tuple[int, int]  # the thumbnail size libvips is asked for (what the plan computes)
    fmt: str
    quality: int | None = None

    def path(self, index: int) -> str:
        """The URL path of variant number `index` (0..MAX_UNIQUE)."""
        return f"/{self.options},bg_{index % (MAX_UNIQUE + 1):06x}/{self.source}"

    @property
    def base_path(self) -> str:
        return f"/{self.options}/{self.source}"


TRANSFORMS: dict[str, MissTransform] = {
    "a": MissTransform("a", "12 MP JPEG -> 400x300 WebP", "photo-12mp.jpg",
                       "w_400,h_300,fmt_webp", (400, 300), "webp"),
    "b": MissTransform("b", "2 MP JPEG -> 800w JPEG q80", "photo-2mp.jpg",
                       "w_800,fmt_jpeg,q_80", (800, 600), "jpeg", 80),
    "c": MissTransform("c", "1 MP PNG -> 300x300 AVIF", "photo-1mp.png",
                       "w_300,h_300,fmt_avif", (300, 300), "avif"),
}
# The hit path serves this variant (about 20 KB of WebP).
HIT_TRANSFORM = TRANSFORMS["a"]


@dataclass(frozen=True)
class Scenario:
    """A load test against a server started for it alone (so peak RSS is its own)."""

    name: str
    kind: str  # miss | hit | bare | overload | mixed
    title: str
    concurrency: int
    transforms: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    needs_redis: bool = False
    baseline: str = ""  # "inprocess:<transform keys>" or "bare"
    honours_retry_after: bool = True  # overload: the client waits as told after a 503


NO_MEMORY = {"IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("miss-a", "miss", TRANSFORMS["a"].title, 8, ("a",), baseline="inprocess"),
    Scenario("miss-b", "miss", TRANSFORMS["b"].title, 8, ("b",), baseline="inprocess"),
    Scenario("miss-c", "miss", TRANSFORMS["c"].title, 8, ("c",), baseline="inprocess"),
    Scenario("miss-mix", "miss", "a, b and c in turn (peak RSS figure)", 8, ("a", "b", "c"),
             baseline="inprocess"),
    Scenario("overload-a", "overload", "12 MP -> WebP at concurrency 32", 32, ("a",)),
    # The same load from a client that re-sends at once after every 503 (as wrk does).
    Scenario("overload-storm", "overload", "12 MP -> WebP at c32, Retry-After ignored", 32,
             ("a",), honours_retry_after=False),
    Scenario("hit-memory", "hit", "L1 (in-process) hit", 64, baseline="bare"),
    Scenario("hit-bare", "bare", "bare Starlette, same bytes", 64),
    Scenario("hit-disk", "hit", "disk tier hit (L1 off)", 64, env=NO_MEMORY, baseline="bare"),
    Scenario("hit-redis", "hit", "Redis hit (L1 off)", 64, env=NO_MEMORY, needs_redis=True,
             baseline="bare"),
    # Open loop (concurrency 0): requests arrive at a fixed rate, as from a CDN's many users.
    Scenario("mixed", "mixed", "95% hit / 5% miss (b), embedded cache, open loop", 0, ("b",)),
    Scenario("mixed-redis", "mixed", "95% hit / 5% miss (b), Redis + L1, open loop", 0, ("b",),
             needs_redis=True),
)

# The mixed scenarios: of every 20 requests, 19 ask for one of HOT_VARIANTS warm variants, and
# requests arrive at MIX_LOAD x (miss capacity / miss share): the misses alone keep the transform
# threads MIX_LOAD busy, so what is measured is the latency of hits beside running transforms.
MIX_PERIOD = 20
MIX_LOAD = 0.7
HOT_VARIANTS = 100
HOT_OFFSET = 0xF00000  # hot variants' bg indices, far from the unique ones


def miss_paths(keys: tuple[str, ...], count: int, start: int = 0) -> list[str]:
    """`count` unique miss paths, cycling through the transforms `keys`."""
    return [TRANSFORMS[keys[i % len(keys)]].path(start + i) for i in range(count)]


def hot_paths(key: str) -> list[str]:
    return [TRANSFORMS[key].path(HOT_OFFSET + i) for i in range(HOT_VARIANTS)]


def mixed_requests(key: str, count: int) -> list[tuple[str, str]]:
    """(path, "hit"|"miss"): 95% hot (already cached) variants, every 20th a new one."""
    hot = hot_paths(key)
    requests = []
    for i in range(count):
        if i % MIX_PERIOD == MIX_PERIOD - 1:
            requests.append((TRANSFORMS[key].path(i), "miss"))
        else:
            requests.append((hot[i % HOT_VARIANTS], "hit"))
    return requests
