"""Regenerate the bundled sample images (all synthetic, made by libvips; no third-party files).

    .venv/bin/python samples/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import pyvips

HERE = Path(__file__).resolve().parent


def landscape(width: int, height: int) -> pyvips.Image:
    """Sky gradient over rolling Perlin-noise hills: photo-like enough to exercise encoders."""
    y = pyvips.Image.xyz(width, height)[1]
    sky = (y / height * 120).linear([-0.6, -0.3, 0.0], [140, 190, 250])
    hills = pyvips.Image.perlin(width, height, cell_size=max(64, width // 6)) * 0.5 + 0.5
    ground_mask = (y > (hills * height * 0.35 + height * 0.45)).ifthenelse(255, 0)
    texture = pyvips.Image.perlin(width, height, cell_size=16) * 25
    ground = (texture + [70, 120, 50]).cast("float")
    image = ground_mask.ifthenelse(ground, sky)
    sun = pyvips.Image.xyz(width, height)
    cx, cy = width * 0.75, height * 0.2
    dist = ((sun[0] - cx) ** 2 + (sun[1] - cy) ** 2) ** 0.5
    falloff = 1 - dist / (height * 0.12)
    glow = (falloff > 0).ifthenelse(falloff, 0) * 120
    return (image + glow).cast("uchar").copy(interpretation="srgb")


def product(width: int, height: int) -> pyvips.Image:
    """A soft 'shoe' blob on a studio backdrop."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    backdrop = (y / height * 40 + 200).bandjoin([y / height * 40 + 200, y / height * 30 + 210])
    nx, ny = (x - width * 0.5) / (width * 0.32), (y - height * 0.58) / (height * 0.18)
    inside = (nx * nx + ny * ny) < 1
    noise = pyvips.Image.perlin(width, height, cell_size=24) * 30
    body = (noise + [190, 40, 40]).cast("float")
    return inside.ifthenelse(body, backdrop).gaussblur(1.2).cast("uchar").copy(
        interpretation="srgb")


def logo(size: int) -> pyvips.Image:
    """A ring with a transparent background (alpha)."""
    xyz = pyvips.Image.xyz(size, size) - [size / 2, size / 2]
    r = (xyz[0] ** 2 + xyz[1] ** 2) ** 0.5
    alpha = ((r < size * 0.45) & (r > size * 0.28)).ifthenelse(255, 0)
    rgb = pyvips.Image.black(size, size, bands=3) + [30, 110, 220]
    return rgb.bandjoin(alpha).cast("uchar").copy(interpretation="srgb")


def main() -> None:
    (HERE / "products").mkdir(exist_ok=True)
    landscape(2400, 1600).jpegsave(str(HERE / "landscape.jpg"), Q=85, keep=0)
    product(1600, 1200).jpegsave(str(HERE / "products" / "shoe.jpg"), Q=85, keep=0)
    logo(512).pngsave(str(HERE / "logo.png"), keep=0)
    frames = [logo(128).rot(angle) for angle in ("d0", "d90", "d180", "d270")]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 128)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [200, 200, 200, 200])
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    strip.gifsave(str(HERE / "spinner.gif"))


if __name__ == "__main__":
    main()
