"""Image files the operator configures (watermarks, the fallback image): read and checked once
when a worker starts, so a bad file stops the worker with a reason instead of failing requests."""

from __future__ import annotations

from collections.abc import Mapping

from origin.errors import ImgOriginError
from transforms import Probe, probe
from transforms.watermarks import WatermarkImage, decode


def read_image(path: str, max_bytes: int) -> tuple[bytes, Probe]:
    """The file's bytes and header facts; ValueError says what is wrong with it. SVG is refused:
    rasterising it needs the sandboxed child that sources get, for a file read once."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise ValueError(f"{path} is over {max_bytes} bytes")
    try:
        return data, probe(data, svg_allowed=False)
    except ImgOriginError as exc:
        raise ValueError(f"{path}: {exc.detail}") from None


def load_watermarks(paths: Mapping[str, str]) -> dict[str, WatermarkImage]:
    """Every configured watermark, decoded, by name; ValueError names the one that fails."""
    marks = {}
    for name, path in paths.items():
        try:
            data, info = read_image(path, WATERMARK_MAX_BYTES)
            marks[name] = decode(name, data, info)
        except ValueError as exc:
            raise ValueError(f"watermark '{name}': {exc}") from None
    return marks


WATERMARK_MAX_BYTES = 16 * 1024 * 1024
