"""What an encoder effort buys: bytes at equal quality and CPU time, against imgorigin's default.

`make bench-effort` (or `python -m benchmarks.effort --format avif --size 400`) resizes each
photo of the corpus (`../shared/corpus/real`, else the bench's generated photos) to fit the
size, encodes it at every effort over a grid of quality settings, and measures each output's
SSIM (luma, Gaussian window) against the resized image. For every effort it reports the bytes
needed to reach the SSIM the default effort reaches at the default quality (interpolated along
that effort's quality curve), and its encoder CPU time at the default quality, both as ratios to
the default effort on the same image. One libvips thread, as a worker runs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VIPS_CONCURRENCY", "1")

import pyvips  # after the line above: libvips reads VIPS_CONCURRENCY when it starts

from benchmarks.images import make_images
from benchmarks.report import table, write_json
from origin.settings import Settings
from transforms import autoquality
from transforms.formats import DEFAULT_QUALITY, encoder_options

CORPUS_PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "real"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
EFFORTS = {"avif": (0, 1, 2, 3), "webp": (0, 1, 2, 3, 4)}  # AVIF effort 4 costs 5-7 x effort 2
# The reference is the effort the server would use here (IMGORIGIN_*_EFFORT, else the default).
_SETTINGS = Settings.from_env()
DEFAULT_EFFORT = {"avif": _SETTINGS.avif_effort, "webp": _SETTINGS.webp_effort}
QUALITIES = tuple(range(35, 91, 5))
MIN_SIDE = 300  # smaller photos say little about the sizes a page asks for


def efforts_for(fmt: str) -> list[int]:
    return sorted({*EFFORTS[fmt], DEFAULT_EFFORT[fmt]})


def ssim(reference: pyvips.Image, other: pyvips.Image) -> float:
    """Mean SSIM of the two images' luma at full size (the measure `q_auto` takes at half)."""
    return autoquality.ssim(reference.colourspace("b-w")[0].cast("float"),
                            other.colourspace("b-w")[0].cast("float"))


def bytes_at(curve: list[tuple[float, int]], target: float) -> float | None:
    """Bytes at SSIM `target` along (ssim, bytes) points, interpolated; None outside them."""
    points = sorted(curve)
    for (s0, b0), (s1, b1) in itertools.pairwise(points):
        if s0 <= target <= s1 and s1 > s0:
            return b0 + (b1 - b0) * (target - s0) / (s1 - s0)
    return None


def encode(image: pyvips.Image, fmt: str, effort: int, quality: int) -> bytes:
    """The server's encoder call for `fmt`, at this effort and quality."""
    operation, kwargs = encoder_options(fmt, quality=quality, progressive=False, lossless=False,
                                        strip=True)
    return getattr(image, operation)(**{**kwargs, "effort": effort})


def _cpu_ms(image: pyvips.Image, fmt: str, effort: int, quality: int, seconds: float) -> float:
    encode(image, fmt, effort, quality)
    calls, started = 0, time.process_time()
    while time.process_time() - started < seconds or calls < 2:
        encode(image, fmt, effort, quality)
        calls += 1
    return (time.process_time() - started) / calls * 1000


def measure(path: Path, fmt: str, size: int, qualities: tuple[int, ...] = QUALITIES,
            seconds: float = 0.5) -> dict[str, Any]:
    """Every effort's bytes at the default's SSIM and its CPU time, as ratios, for one photo."""
    image = pyvips.Image.thumbnail(str(path), size, height=size).colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.copy_memory()
    quality, default = DEFAULT_QUALITY[fmt], DEFAULT_EFFORT[fmt]
    grid = sorted({*qualities, quality})
    curves: dict[int, list[tuple[float, int]]] = {}
    for effort in efforts_for(fmt):
        curve = []
        for q in grid:
            out = encode(image, fmt, effort, q)
            curve.append((ssim(image, pyvips.Image.new_from_buffer(out, "")), len(out)))
        curves[effort] = curve
    target, base_bytes = curves[default][grid.index(quality)]
    base_ms = _cpu_ms(image, fmt, default, quality, seconds)
    efforts = {}
    for effort in efforts_for(fmt):
        found = bytes_at(curves[effort], target)
        ms = base_ms if effort == default else _cpu_ms(image, fmt, effort, quality, seconds)
        efforts[effort] = {"bytes_ratio": None if found is None else found / base_bytes,
                           "cpu_ms": round(ms, 2), "time_ratio": ms / base_ms}
    return {"image": path.name, "size": [image.width, image.height], "ssim": round(target, 4),
            "bytes": base_bytes, "efforts": efforts}


def _smaller_side(path: Path) -> int:
    header = pyvips.Image.new_from_file(str(path))
    return min(header.width, header.height)


def photos() -> list[Path]:
    if CORPUS_PHOTOS.is_dir():
        found = [p for p in sorted(CORPUS_PHOTOS.rglob("*")) if p.suffix.lower() in PHOTO_SUFFIXES]
        large = [p for p in found if _smaller_side(p) >= MIN_SIDE]
        if large:
            return large
    print(f"corpus not found at {CORPUS_PHOTOS}: using the bench's generated photos",
          file=sys.stderr)
    directory = Path(tempfile.mkdtemp(prefix="imgorigin-effort-"))
    return list(make_images(directory).values())


def _percent(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.effort")
    parser.add_argument("--format", choices=sorted(EFFORTS), default="avif")
    parser.add_argument("--size", type=int, default=400)
    args = parser.parse_args(argv)
    fmt, default = args.format, DEFAULT_EFFORT[args.format]
    results = []
    for path in photos():
        results.append(measure(path, fmt, args.size))
        print(f"measured {path.name}", file=sys.stderr)
    rows = []
    for effort in efforts_for(fmt):
        sizes = [r["efforts"][effort]["bytes_ratio"] for r in results
                 if r["efforts"][effort]["bytes_ratio"] is not None]
        times = [r["efforts"][effort]["time_ratio"] for r in results]
        rows.append([f"{effort}{' (default)' if effort == default else ''}",
                     _percent(statistics.median(sizes)) if sizes else "-",
                     f"{_percent(min(sizes))} to {_percent(max(sizes))}" if sizes else "-",
                     f"{len(sizes)}/{len(results)}",
                     f"{statistics.median(times):.2f}" if times else "-"])
    print(f"\n{fmt.upper()} at q{DEFAULT_QUALITY[fmt]}, photos fitted into {args.size} px: each "
          f"effort against effort {default}, at the SSIM effort {default} reaches")
    print(table(["effort", "bytes at equal SSIM (median)", "range", "photos in range",
                 "CPU time ratio (median)"], rows))
    path = write_json(f"effort-{fmt}", {"format": fmt, "size": args.size,
                                        "default_effort": default,
                                        "quality": DEFAULT_QUALITY[fmt], "photos": results})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
