"""libvips' process-wide settings, applied once per worker before the first transform."""

from __future__ import annotations

import os

from transforms import formats

MIN_LIBVIPS = (8, 13)  # block_untrusted_set appeared in 8.13


def configure(*, concurrency: int, cache_max_mem: int, jpeg_optimize_coding: bool = True,
              webp_effort: int = formats.WEBP_EFFORT,
              avif_effort: int = formats.AVIF_EFFORT) -> str:
    """Block untrusted loaders, size libvips' cache and threads, set the encoders' process-wide
    choices; returns the libvips version."""
    formats.configure(jpeg_optimize_coding=jpeg_optimize_coding, webp_effort=webp_effort,
                      avif_effort=avif_effort)
    os.environ.setdefault("VIPS_CONCURRENCY", str(concurrency))
    import pyvips

    version = (pyvips.version(0), pyvips.version(1))
    if version < MIN_LIBVIPS:
        raise RuntimeError(f"libvips {version} is too old; imgorigin needs >= 8.13")
    # Loaders such as ImageMagick, PDF, FITS or matrix are not memory-safe enough for strangers'
    # files; what we do decode is further limited by transforms.probe.LOADERS.
    pyvips.block_untrusted_set(True)
    # pyvips routes libvips' log messages into Python through a GLib log handler. Python code
    # inside that handler can collect garbage, and freeing an image there may close a loader that
    # logs again ("read gave 1 warnings" of a corrupt JPEG): GLib treats a message logged inside
    # its own handler on the same thread as fatal and aborts the worker (seen under concurrent
    # requests for hostile/corrupt/pillow_junk_jpeg_header.jpg). GLib's own handler (stderr)
    # runs no Python, so it cannot recurse.
    remove_log_handler = getattr(pyvips, "_remove_log_handler", None)
    if remove_log_handler is not None:
        remove_log_handler()
    # SVG is parsed and drawn only in a killable child (transforms.svgrender), never here.
    pyvips.operation_block_set("VipsForeignLoadSvg", True)
    # Every request brings new input, so libvips' operation cache would only hold memory.
    pyvips.cache_set_max(0 if cache_max_mem == 0 else 100)
    pyvips.cache_set_max_mem(cache_max_mem)
    pyvips.cache_set_max_files(0 if cache_max_mem == 0 else 10)
    if hasattr(pyvips, "concurrency_set"):
        pyvips.concurrency_set(concurrency)
    return f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
