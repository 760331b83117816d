"""`make bench-autoquality`: what `q_auto` chooses for the corpus photos, against the defaults.

Each photo is fitted into 800 px and encoded in JPEG, WebP and AVIF at the format's default
quality and with `q_auto` at each level, through the server's own pipeline. The table gives, per
format: the score (half-scale luma SSIM, transforms/autoquality.py) the default quality reaches
on the median and the hardest photo (what the `good` targets were calibrated on), and for each
level the qualities chosen, the bytes against the default's and the encodes run.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pyvips

from benchmarks.effort import photos
from benchmarks.report import table, write_json
from transforms import Limits, autoquality, transform
from transforms.formats import DEFAULT_QUALITY
from transforms.grammar import parse

SIZE = 800
FORMATS = ("jpeg", "webp", "avif")


def _render(data: bytes, segment: str, fmt: str) -> tuple[bytes, tuple[int, int] | None, float]:
    started = time.perf_counter()
    result = transform(data, parse(segment).options, fmt, Limits(),
                       deadline=time.monotonic() + 120)
    return result.body, result.auto_quality, time.perf_counter() - started


def measure(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    reference = pyvips.Image.new_from_buffer(
        _render(data, f"w_{SIZE},h_{SIZE},fit_inside,fmt_png", "png")[0], "")
    if reference.hasalpha():
        reference = reference.flatten(background=[255, 255, 255])
    score = autoquality.scorer(reference)
    found: dict[str, Any] = {"image": path.name, "size": [reference.width, reference.height]}
    for fmt in FORMATS:
        plain, _, plain_time = _render(data, f"w_{SIZE},h_{SIZE},fit_inside", fmt)
        levels = {}
        for level in autoquality.LEVELS:
            body, chosen, seconds = _render(
                data, f"w_{SIZE},h_{SIZE},fit_inside,q_auto:{level}", fmt)
            assert chosen is not None
            levels[level] = {"quality": chosen[0], "encodes": chosen[1],
                             "bytes_ratio": round(len(body) / len(plain), 3),
                             "score": round(score(body), 5),
                             "time_ratio": round(seconds / plain_time, 2)}
        found[fmt] = {"default_score": round(score(plain), 5), "default_bytes": len(plain),
                      "levels": levels}
    return found


def main() -> int:
    results = []
    for path in photos():
        results.append(measure(path))
        print(f"measured {path.name}", file=sys.stderr)
    rows = []
    for fmt in FORMATS:
        scores = [r[fmt]["default_score"] for r in results]
        rows.append([fmt, f"q{DEFAULT_QUALITY[fmt]}", "-",
                     f"{statistics.median(scores):.4f} / {min(scores):.4f}", "1.00", "1", "1.0"])
        for level in autoquality.LEVELS:
            picked = [r[fmt]["levels"][level] for r in results]
            qualities = sorted(p["quality"] for p in picked)
            rows.append([fmt, f"q_auto:{level}", f"{autoquality.target(fmt, level):.4f}",
                         f"{statistics.median(p['score'] for p in picked):.4f} / "
                         f"{min(p['score'] for p in picked):.4f}",
                         f"{statistics.median(p['bytes_ratio'] for p in picked):.2f} "
                         f"({min(p['bytes_ratio'] for p in picked):.2f}-"
                         f"{max(p['bytes_ratio'] for p in picked):.2f}), q{qualities[0]}-"
                         f"{qualities[-1]}",
                         f"{statistics.median(p['encodes'] for p in picked):.0f}",
                         f"{statistics.median(p['time_ratio'] for p in picked):.1f}"])
    print(f"\n{len(results)} photos fitted into {SIZE} px; score = half-scale luma SSIM "
          "(median / lowest); bytes against the format's default quality")
    print(table(["format", "quality", "target", "score", "bytes (median, range), qualities",
                 "encodes", "time ratio"], rows))
    path = write_json("autoquality", {"size": SIZE, "targets": autoquality.TARGETS,
                                      "levels": autoquality.LEVELS, "photos": results})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
