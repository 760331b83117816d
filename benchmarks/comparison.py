"""The pure parts of `make bench-peers`: what each system's output is, the AVIF quality at which
imgorigin's output is as large as a peer's, and repeated rounds reduced to medians and ratios."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyvips

from benchmarks.report import cell
from benchmarks.scenarios import TRANSFORMS

AVIF_KEY = "c"
SIZE_TOLERANCE = 0.10  # "AVIF compared at output sizes within 10 % of each other"
QUALITY_RANGE = (20, 90)
OURS = "imgorigin"
# A round in which a server used less of the machine than this was limited by how its processes
# shared the connections (thumbor's accept loop can take all eight at once), not by its speed.
BUSY_SHARE = 0.75


def equal_size_scenario(peer: str) -> str:
    """The name of imgorigin's AVIF run at the quality that matches `peer`'s output size."""
    return f"{AVIF_KEY}@{peer}-size"


# --- outputs ----------------------------------------------------------------------------------

def decoded_format(loader: str, compression: str = "") -> str:
    """The image format a libvips loader name stands for (heif holds both AVIF and HEIC)."""
    name = loader.removesuffix("_buffer").removesuffix("_source").removesuffix("load")
    if name == "heif":
        return "avif" if compression == "av1" else "heic"
    return name


def describe_output(data: bytes) -> dict[str, Any]:
    """Bytes, format and dimensions of one encoded answer, decoded with pyvips."""
    image = pyvips.Image.new_from_buffer(data, "")
    fields = image.get_fields()
    compression = image.get("heif-compression") if "heif-compression" in fields else ""
    return {"bytes": len(data), "format": decoded_format(image.get("vips-loader"), compression),
            "width": image.width, "height": image.height}


def output_problems(key: str, output: dict[str, Any]) -> list[str]:
    """How an answer differs from what transform `key` asks for (empty when it matches)."""
    if "error" in output:
        return [output["error"]]
    expected = TRANSFORMS[key]
    problems = []
    if output["format"] != expected.fmt:
        problems.append(f"format {output['format']}, not {expected.fmt}")
    if (output["width"], output["height"]) != expected.resize:
        problems.append(f"{output['width']}x{output['height']}, not "
                        f"{expected.resize[0]}x{expected.resize[1]}")
    return problems


# --- equal-size AVIF --------------------------------------------------------------------------

@dataclass
class SizeMatch:
    """The quality whose output is nearest a peer's size, and whether it is near enough."""

    quality: int
    size: int
    target: int
    within: bool
    tried: dict[int, int] = field(default_factory=dict)

    @property
    def diff(self) -> float:
        """(ours - peer's) / peer's size."""
        return (self.size - self.target) / self.target if self.target else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "diff": round(self.diff, 4)}


def match_quality(size_at: Callable[[int], int], target: int,
                  qualities: tuple[int, int] = QUALITY_RANGE,
                  tolerance: float = SIZE_TOLERANCE) -> SizeMatch:
    """Bisect `qualities` for one whose `size_at(q)` is within `tolerance` of `target` bytes.
    Size grows with quality (not strictly), so bisection needs about log2(71) = 7 encodes;
    when none lands within the tolerance the closest one tried is returned, `within` false."""
    lo, hi = qualities
    tried: dict[int, int] = {}

    def off(q: int) -> float:
        return abs(tried[q] - target) / target if target else 0.0

    while lo <= hi:
        q = (lo + hi) // 2
        tried[q] = size_at(q)
        if off(q) <= tolerance:
            return SizeMatch(q, tried[q], target, True, tried)
        if tried[q] < target:
            lo = q + 1
        else:
            hi = q - 1
    best = min(tried, key=lambda q: (off(q), q))
    return SizeMatch(best, tried[best], target, False, tried)


# --- rounds -----------------------------------------------------------------------------------

def aggregate(samples: list[dict[str, Any]], cores: int = 2) -> dict[str, Any]:
    """Median req/s with its min-max over rounds, median latencies, the largest RSS, and the
    median over the rounds that kept `cores` busy. Failed rounds are counted, not averaged."""
    good = [s for s in samples if "rps" in s]
    if not good:
        errors = [s.get("error", "no sample") for s in samples]
        return {"n": 0, "failed": len(samples), "error": errors[0] if errors else "no sample"}
    rps = [s["rps"] for s in good]
    floor = BUSY_SHARE * 100 * cores
    busy = {i for i, s in enumerate(good) if s.get("server_cpu_pct", floor) >= floor}
    result = {
        "n": len(good), "failed": len(samples) - len(good),
        "rps_median": round(statistics.median(rps), 2),
        "rps_min": min(rps), "rps_max": max(rps),
        "p50_ms": round(statistics.median(s["p50_ms"] for s in good), 2),
        "p99_ms": round(statistics.median(s["p99_ms"] for s in good), 2),
        "rss_mib_max": max(s.get("peak_rss_mib_max", 0.0) for s in good),
    }
    notes = sorted({s["note"] for s in good if s.get("note")})
    idle = [s.get("round", i + 1) for i, s in enumerate(good) if i not in busy]
    if idle and busy:
        result["rps_busy_median"] = round(statistics.median(good[i]["rps"] for i in busy), 2)
        result["idle_rounds"] = idle
        notes.append(f"round(s) {', '.join(map(str, idle))} under {floor:.0f} % CPU, "
                     "left out of the ratio")
    elif idle:
        result["idle_rounds"] = idle
        notes.append(f"every round under {floor:.0f} % CPU: compared on all of them, which "
                     "flatters whichever side that is")
    if notes:
        result["notes"] = notes
    return result


def capacity(agg: dict[str, Any]) -> float:
    """The req/s a system is compared on: the median of its busy rounds when some rounds left
    the machine idle, else the median of all rounds."""
    return float(agg.get("rps_busy_median", agg["rps_median"]))


def ratio(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> float | None:
    """imgorigin's req/s / the peer's, each at `capacity` (None when either was not measured)."""
    if not ours or not theirs or "rps_median" not in ours or "rps_median" not in theirs:
        return None
    if not capacity(theirs):
        return None
    return round(capacity(ours) / capacity(theirs), 2)


def median_ratio(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> float | None:
    """The ratio of medians over all rounds, idle ones included (printed beside `ratio`)."""
    if not ours or not theirs or not ours.get("rps_median") or not theirs.get("rps_median"):
        return None
    return round(ours["rps_median"] / theirs["rps_median"], 2)


def compared_scenario(peer: str, key: str, summary: dict[str, dict[str, Any]]) -> str:
    """Which imgorigin run a peer's `key` run is compared with: the equal-size AVIF run for c
    when there is one."""
    if key == AVIF_KEY and equal_size_scenario(peer) in summary.get(OURS, {}):
        return equal_size_scenario(peer)
    return key


def _range(agg: dict[str, Any]) -> str:
    if "rps_median" not in agg:
        return ""
    return f"{cell(agg['rps_min'])}-{cell(agg['rps_max'])}"


def _size_note(match: dict[str, Any], peer: str) -> str:
    q, diff = match["quality"], match["diff"]
    if match["within"]:
        return f"q_{q}: {diff:+.0%} bytes vs {peer}"
    low, high = QUALITY_RANGE
    return (f"no q_{low}..{high} within {SIZE_TOLERANCE:.0%} of {peer}'s bytes; closest "
            f"q_{q} ({diff:+.0%})")


def ratio_rows(systems: list[str], summary: dict[str, dict[str, Any]],
               outputs: dict[str, dict[str, Any]], matches: dict[str, dict[str, Any]],
               unavailable: dict[str, str]) -> list[list[Any]]:
    """The printed table: system, transform, bytes, median req/s, min-max, p50, p99, RSS,
    imgorigin / peer, note. `summary[system][scenario]` comes from `aggregate`,
    `outputs[system][key]` from `describe_output`, `matches[peer]` from `SizeMatch.as_dict`."""
    rows: list[list[Any]] = []
    ours = summary.get(OURS, {})
    for name in systems:
        if name in unavailable:
            rows.append([name, "not measured: " + unavailable[name][:150], *[""] * 8])
            continue
        scenarios = list(TRANSFORMS)
        if name == OURS:
            scenarios += [equal_size_scenario(p) for p in systems
                          if p != OURS and equal_size_scenario(p) in ours]
        for scenario in scenarios:
            key = scenario.split("@")[0]
            agg = summary.get(name, {}).get(scenario, {})
            out = outputs.get(name, {}).get(key, {})
            notes = [f"WRONG OUTPUT: {p}" for p in output_problems(key, out)] if out else []
            size: Any = out.get("bytes", "")
            title = f"{key} {TRANSFORMS[key].title}"
            value: Any = "-"
            if name == OURS and scenario != key:
                peer = scenario.split("@")[1].removesuffix("-size")
                match = matches[peer]
                title = f"{scenario} (q_{match['quality']})"
                size = match["size"]
                notes = [_size_note(match, peer)]
                notes += [f"WRONG OUTPUT: {p}" for p in match.get("output", {}).get("problems", [])]
            elif name != OURS:
                against = compared_scenario(name, key, summary)
                value = ratio(ours.get(against), agg)
                if key == AVIF_KEY and against == key:
                    notes.append("vs imgorigin default quality: sizes not matched")
                elif key == AVIF_KEY:
                    within = matches.get(name, {}).get("within", True)
                    notes.append(f"vs imgorigin {against}"
                                 + ("" if within else f" (not within {SIZE_TOLERANCE:.0%})"))
            notes += agg.get("notes", [])
            if name != OURS and ("rps_busy_median" in agg
                                 or "rps_busy_median" in ours.get(against, {})):
                notes.append(f"ratio of all rounds' medians {median_ratio(ours.get(against), agg)}")
            if agg.get("failed"):
                notes.append(f"{agg['failed']} round(s) failed")
            if "rps_median" not in agg:
                rows.append([name, title, size, agg.get("error", "not measured")[:80],
                             "", "", "", "", "", "; ".join(notes)])
                continue
            rows.append([name, title, size, agg["rps_median"], _range(agg), agg["p50_ms"],
                         agg["p99_ms"], agg["rss_mib_max"], value, "; ".join(notes)])
    return rows


def peer_ratios(systems: list[str], summary: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, dict[str, Any]]]:
    """Per peer and transform: which imgorigin run it is compared with, and the ratio."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for peer in systems:
        if peer == OURS or peer not in summary:
            continue
        for key in TRANSFORMS:
            against = compared_scenario(peer, key, summary)
            result.setdefault(peer, {})[key] = {
                "against": against,
                "ratio": ratio(summary.get(OURS, {}).get(against), summary[peer].get(key))}
    return result


def best_peer(key: str, systems: list[str], summary: dict[str, dict[str, Any]]
              ) -> tuple[str, float] | None:
    """The peer imgorigin compares worst against on `key`, with that ratio."""
    ratios = [(peer, by_key[key]["ratio"])
              for peer, by_key in peer_ratios(systems, summary).items()
              if by_key[key]["ratio"] is not None]
    return min(ratios, key=lambda pr: pr[1]) if ratios else None


# The encodes `benchmarks/codec_costs.py` times for each transform, as its JSON names them.
CODEC_ENCODES = {"b": ("baseline", "optimized", "progressive"), "a": ("webp2", "webp4")}


def codec_rows(costs: dict[str, dict[str, Any]], encodes: tuple[str, ...]) -> list[list[Any]]:
    """One table row per codec: ms per decode and per encode, bytes in brackets."""
    rows = []
    for name, cost in costs.items():
        if "error" in cost:
            rows.append([name, cost["error"], *[""] * (1 + len(encodes))])
            continue
        cells = [f"{cost['decode_ms']:.2f}"]
        cells += [f"{cost[f'{step}_ms']:.2f} ({cost[f'{step}_bytes'] / 1000:.1f} KB)"
                  for step in encodes]
        rows.append([name, cost["codec"], *cells])
    return rows
