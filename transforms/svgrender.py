"""Rasterise an SVG in a child process that the request deadline can kill.

librsvg renders a document, filters included, in one call that nothing interrupts: twenty
blurred circles at 1000x1000 take 40 s, and libvips' kill switch is only looked at between tiles.
So SVG sources are drawn by `python -m transforms.svgrender W H` (SVG on stdin, raw pixels on
stdout) under an address-space limit, killed when the deadline passes; the worker carries on with
the pixels as with any bitmap. Their header is read the same way (`--header`), since librsvg
parses the whole document to size it: the worker's own libvips never loads SVG. Starting the
child costs about 0.1 s, paid only on SVG probes (cached per source version) and SVG misses.

The child says when it is ready, before it reads the document, so a header's time limit bounds
librsvg's parse and not the interpreter's start-up: on a saturated machine start-up alone can
take seconds, and a legitimate SVG must not then be called unreadable (a remembered 422).
"""

from __future__ import annotations

import math
import os
import select
import struct
import subprocess
import sys
import time

import pyvips

from origin.errors import UnprocessableImage, UpstreamTimeout

HEADER = struct.Struct("<III")  # width, height, bands of the 8-bit pixels that follow
# Address space of the child: room for a 100 MP RGBA render twice over (cairo + libvips).
CHILD_ADDRESS_SPACE = 3 * 1024**3
# Sizing a document is a parse, not a render: a legitimate one takes well under a second, and
# probes share one thread per worker.
HEADER_TIMEOUT = 2.0
# Interpreter and pyvips start-up of a header child; past it the machine is overloaded (504, not
# remembered), which says nothing about the document.
STARTUP_TIMEOUT = 10.0
CHILD = [sys.executable, "-m", "transforms.svgrender"]
READY = b"R"  # written by the child once it is ready to read the document


def header(data: bytes) -> tuple[int, int, int]:
    """The SVG's own width, height and bands, read by librsvg in a child process; a document
    that cannot be sized within HEADER_TIMEOUT is unreadable (422), not a slow upstream."""
    try:
        out = _run_child(["--header"], data, "SVG source could not be read",
                         startup=STARTUP_TIMEOUT, work=HEADER_TIMEOUT)
    except _WorkTimeout:
        raise UnprocessableImage("SVG source could not be read in time") from None
    width, height, bands = HEADER.unpack_from(out)
    return width, height, bands


def render(data: bytes, width: int, height: int, deadline: float) -> pyvips.Image:
    """The SVG at exactly width x height (0, 0: its own size), 8-bit sRGB with alpha."""
    if deadline <= time.monotonic():
        raise UpstreamTimeout("transform took longer than the request deadline")
    try:
        out = _run_child([str(width), str(height)], data, "SVG source could not be rendered",
                         deadline=deadline)
    except _WorkTimeout:
        raise UpstreamTimeout("SVG source took longer than its time limit") from None
    w, h, bands = HEADER.unpack_from(out)
    pixels = out[HEADER.size:]
    if len(pixels) != w * h * bands:
        raise UnprocessableImage("SVG source could not be rendered", internal="short output")
    image = pyvips.Image.new_from_memory(pixels, w, h, bands, "uchar")
    return image.copy(interpretation="srgb")


class _WorkTimeout(Exception):
    """The child started but did not finish its document in time."""


def _run_child(args: list[str], data: bytes, failure: str, *, startup: float = math.inf,
               work: float = math.inf, deadline: float = math.inf) -> bytes:
    """The child's stdout after its ready mark, at least a header long. 504 if it is not ready
    within `startup` seconds; _WorkTimeout if it then takes longer than `work` seconds; either,
    whichever phase it is in, at the monotonic `deadline`; 422 on any failure."""
    env = {**os.environ, "VIPS_CONCURRENCY": "1", "MALLOC_ARENA_MAX": "2"}
    with subprocess.Popen([*CHILD, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env) as proc:
        try:
            ready = _read_ready(proc, min(startup, deadline - time.monotonic()))
            if ready is None:
                raise UpstreamTimeout("SVG renderer did not start in time")
            timeout = min(work, deadline - time.monotonic())
            try:
                out, err = proc.communicate(data, timeout=max(timeout, 0.0))
            except subprocess.TimeoutExpired:
                raise _WorkTimeout from None
        finally:
            if proc.poll() is None:
                proc.kill()
    if not ready or proc.returncode != 0 or len(out) < HEADER.size:
        raise UnprocessableImage(failure, internal=err.decode(errors="replace")[-500:])
    return out


def _read_ready(proc: subprocess.Popen[bytes], timeout: float) -> bool | None:
    """True once the child wrote its ready mark, False if it exited first, None on timeout."""
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], timeout)
    if not readable:
        return None
    return os.read(proc.stdout.fileno(), len(READY)) == READY


def _child(argv: list[str]) -> int:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoadSvg", False)
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    data = sys.stdin.buffer.read()
    if argv[1] == "--header":
        image = pyvips.Image.new_from_buffer(data, "", fail_on="error", access="sequential")
        if image.get("vips-loader") != "svgload_buffer":
            raise pyvips.Error("not an SVG document")
        sys.stdout.buffer.write(HEADER.pack(image.width, image.height, image.bands))
        return 0
    width, height = int(argv[1]), int(argv[2])
    if width and height:
        image = pyvips.Image.thumbnail_buffer(data, width, height=height, size="force",
                                              option_string="fail_on=error")
    else:
        image = pyvips.Image.new_from_buffer(data, "", fail_on="error", access="sequential")
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin(255)
    image = image.cast("uchar")
    pixels = image.write_to_memory()
    sys.stdout.buffer.write(HEADER.pack(image.width, image.height, image.bands))
    sys.stdout.buffer.write(pixels)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_child(sys.argv))
    except (pyvips.Error, MemoryError) as exc:
        sys.stderr.write(str(exc))
        sys.exit(1)
