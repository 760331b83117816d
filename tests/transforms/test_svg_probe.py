"""SVG is sized, like it is drawn, by librsvg in a child process: a worker's libvips, configured
as in production, refuses to load SVG at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from origin.errors import UnprocessableImage
from transforms.probe import probe

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="45"><rect width="9" ' \
      b'height="9" fill="red"/></svg>'

_IN_A_WORKER = """
import sys
import pyvips
from transforms import vipsconfig
from transforms.probe import probe
vipsconfig.configure(concurrency=1, cache_max_mem=0)
data = sys.stdin.buffer.read()
try:
    pyvips.Image.new_from_buffer(data, "")
    print("worker loaded svg")
except pyvips.Error:
    print("worker refused svg")
info = probe(data)
print(info.format, info.width, info.height, info.has_alpha)
"""


def test_a_configured_worker_never_loads_svg_but_probes_it_through_the_child() -> None:
    out = subprocess.run([sys.executable, "-c", _IN_A_WORKER], input=SVG, capture_output=True,
                         check=True).stdout.decode().split("\n")
    assert out[:2] == ["worker refused svg", "svg 120 45 True"]


def test_unreadable_svg_is_422_from_the_child() -> None:
    with pytest.raises(UnprocessableImage):
        probe(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" <<<')


def test_html_mentioning_svg_is_an_unreadable_source() -> None:
    with pytest.raises(UnprocessableImage):
        probe(b"<html><body><svg-ish>not an image</svg-ish></body></html>")


def test_svgz_is_sized_by_the_child_and_other_gzip_is_422() -> None:
    import gzip

    info = probe(gzip.compress(SVG))
    assert (info.format, info.width, info.height) == ("svg", 120, 45)
    with pytest.raises(UnprocessableImage):
        probe(gzip.compress(b"just some text, not an image"))



def test_a_header_that_cannot_be_read_in_time_is_422(monkeypatch: pytest.MonkeyPatch) -> None:
    from transforms import svgrender

    # Shorter than the child's own start-up (~0.1 s): stands in for librsvg spinning on a
    # hostile document (Debian's 8.14 did on the corpus' truncated .svgz); the child is killed.
    monkeypatch.setattr(svgrender, "HEADER_TIMEOUT", 0.01)
    with pytest.raises(UnprocessableImage, match="in time"):
        probe(SVG)
