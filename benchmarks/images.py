"""The benchmark's source images, generated with pyvips so every run uses the same bytes.

Photo-like means continuous tone with detail at several scales (not flat colour, which
compresses to nothing, and not white noise, which no camera makes): a colour gradient, blobs of
two sizes and fine grain. The generator is deterministic only in size and kind: noise differs per
run, which moves encode times by well under a percent.
"""

from __future__ import annotations

from pathlib import Path

import pyvips

# name -> (width, height, saver, saver arguments)
IMAGES: dict[str, tuple[int, int, str, dict[str, object]]] = {
    "photo-12mp.jpg": (4000, 3000, "jpegsave", {"Q": 88}),
    "photo-2mp.jpg": (1600, 1200, "jpegsave", {"Q": 88}),
    "photo-1mp.png": (1000, 1000, "pngsave", {"compression": 6}),
}


def _blobs(width: int, height: int, step: int, sigma: float) -> pyvips.Image:
    """Three bands of smooth random blobs about `step` pixels across."""
    small = [pyvips.Image.gaussnoise(width // step + 1, height // step + 1, sigma=sigma, mean=0)
             for _ in range(3)]
    return small[0].bandjoin(small[1:]).resize(step, kernel="cubic").crop(0, 0, width, height)


def photo(width: int, height: int) -> pyvips.Image:
    """An sRGB 8-bit image that encodes about as hard as a photograph of the same size."""
    xyz = pyvips.Image.xyz(width, height)
    xs, ys = xyz[0] / width, xyz[1] / height
    red = xs * 180 + (ys * 540).sin() * 30 + 40
    green = ys * 160 + (xs * 900).sin() * 40 + 50
    blue = (xs + ys) * 90 + (xs * ys * 1080).sin() * 50 + 60
    base = red.bandjoin([green, blue])
    grain = pyvips.Image.gaussnoise(width, height, sigma=4, mean=0)
    image = base + _blobs(width, height, 64, 40) + _blobs(width, height, 8, 18) + grain
    return image.cast("uchar").copy(interpretation="srgb")


def make_images(directory: Path) -> dict[str, Path]:
    """Write every benchmark image into `directory` (reused if already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, (width, height, saver, kwargs) in IMAGES.items():
        path = directory / name
        if not path.is_file():
            getattr(photo(width, height), saver)(str(path), **kwargs)
        paths[name] = path
    return paths
