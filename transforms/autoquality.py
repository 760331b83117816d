"""`q_auto[:LEVEL]`: the lowest encoder quality whose output still looks like the image.

Cloudinary's `q_auto` and imgproxy Pro's autoquality pick a quality per image instead of one for
all: a flat product shot needs far less than a photo of foliage. Here the measure is the mean
SSIM of the luma of the image and of its decoded encode, both halved in size first (the scale a
`dpr_2` image is seen at, and one where sensor noise no longer counts as detail: at full size
noisy photos never reach a target that clean ones pass at quality 60, see docs/decisions.md).
The search is a bisection over qualities 20, 25, ..., 95, so it runs at most five encodes and
answers one of them: the lowest candidate at or above the level's target, else 95. The targets
are per format: luma SSIM scores WebP's and AVIF's smoothing lower than JPEG's blocks (at the
default qualities the median corpus photo scores 0.9963 in JPEG, 0.9923 in WebP, 0.9904 in
AVIF), so one number for all would push WebP and AVIF far above their usual qualities.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pyvips

from origin.errors import UpstreamTimeout

# `good` asks each format for the score its default quality gives the hardest photos of the
# corpus at 800 px (benchmarks/autoquality.py: the lowest of 17, rounded down): no image gets a
# worse look than the default gives those, and every image that looks that good with less gets
# less. The other levels (Cloudinary's names) move that target.
TARGETS: dict[str, float] = {"jpeg": 0.9940, "webp": 0.9875, "avif": 0.9875}
LEVELS: dict[str, float] = {"best": 0.002, "good": 0.0, "eco": -0.003, "low": -0.006}
DEFAULT_LEVEL = "good"
CANDIDATES: tuple[int, ...] = tuple(range(20, 100, 5))
MAX_ENCODES = 5  # log2(16) bisection steps, and 95 itself when nothing below it passed
# Below this many pixels on a side the halved image has too little to measure: the format's
# default quality is used.
MIN_SIDE = 32


@dataclass(frozen=True, slots=True)
class Picked:
    """The search's answer: the output, its quality, and how many encodes it ran."""

    output: bytes
    quality: int
    encodes: int


def pick_quality(encode_at: Callable[[int], bytes], score: Callable[[bytes], float],
                 target: float, *, deadline: float = float("inf")) -> Picked:
    """The output of the lowest candidate quality whose `score` is at least `target` (95's
    when none below it is); checks `deadline` before each encode."""
    made: dict[int, bytes] = {}

    def encode(index: int) -> bytes:
        if time.monotonic() > deadline:
            raise UpstreamTimeout("transform took longer than the request deadline")
        made[index] = encode_at(CANDIDATES[index])
        return made[index]

    lo, hi = -1, len(CANDIDATES) - 1  # `hi` passes (or is the last resort), `lo` does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if score(encode(mid)) >= target:
            hi = mid
        else:
            lo = mid
    output = made.get(hi) or encode(hi)
    return Picked(output, CANDIDATES[hi], len(made))


def target(fmt: str, level: str) -> float:
    """The score `q_auto:LEVEL` asks of an output in `fmt`."""
    return TARGETS[fmt] + LEVELS[level]


def half_luma(image: pyvips.Image) -> pyvips.Image:
    """The image's luma at half size, as float: what the score compares."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    luma = image.colourspace("b-w")[0] if image.interpretation != "b-w" else image[0]
    return luma.resize(0.5, kernel="linear").cast("float").copy_memory()


def ssim(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean SSIM of two one-band float images of one size, with the usual 1.5 px Gaussian
    window and constants."""

    def blur(image: pyvips.Image) -> pyvips.Image:
        return image.gaussblur(1.5, precision="float")

    mean_a, mean_b = blur(a), blur(b)
    var_a = blur(a * a) - mean_a * mean_a
    var_b = blur(b * b) - mean_b * mean_b
    cov = blur(a * b) - mean_a * mean_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((mean_a * mean_b * 2 + c1) * (cov * 2 + c2)) / (
        (mean_a * mean_a + mean_b * mean_b + c1) * (var_a + var_b + c2))
    return float(index.avg())


def scorer(reference: pyvips.Image) -> Callable[[bytes], float]:
    """How alike an encode of `reference` looks to it (half-scale luma SSIM, 1 = the same)."""
    half = half_luma(reference)

    def score(data: bytes) -> float:
        return ssim(half, half_luma(pyvips.Image.new_from_buffer(data, "")))

    return score
