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



# A document librsvg needs about a second to parse on this kind of machine (more under load).
_SLOW_TO_PARSE = (b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
                  + b'<rect x="1" y="1" width="2" height="2"/>' * 100_000 + b"</svg>")


def _slow_starting_child(seconds: float) -> list[str]:
    """The child's command line, with an interpreter start-up `seconds` longer."""
    code = (f"import runpy, time; time.sleep({seconds}); "
            "runpy.run_module('transforms.svgrender', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code]


def test_a_header_that_cannot_be_read_in_time_is_422(monkeypatch: pytest.MonkeyPatch) -> None:
    from transforms import svgrender

    # Stands in for librsvg spinning on a hostile document (Debian's 8.14 did on the corpus'
    # truncated .svgz); the child is killed.
    monkeypatch.setattr(svgrender, "HEADER_TIMEOUT", 0.05)
    with pytest.raises(UnprocessableImage, match="in time"):
        probe(_SLOW_TO_PARSE)


def test_the_childs_start_up_does_not_count_against_the_header_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from transforms import svgrender

    # A saturated machine: the interpreter takes longer to start than a parse may take. Before
    # the ready mark, this legitimate SVG was a 422, remembered for IMGORIGIN_FAILURE_TTL.
    monkeypatch.setattr(svgrender, "CHILD", _slow_starting_child(1.5))
    monkeypatch.setattr(svgrender, "HEADER_TIMEOUT", 0.5)
    info = probe(SVG)
    assert (info.format, info.width, info.height) == ("svg", 120, 45)


def test_a_child_that_does_not_start_in_time_is_a_timeout_not_an_unreadable_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from origin.errors import UpstreamTimeout
    from origin.failures import FailureMemo
    from transforms import svgrender

    monkeypatch.setattr(svgrender, "CHILD", _slow_starting_child(30))
    monkeypatch.setattr(svgrender, "STARTUP_TIMEOUT", 0.3)
    with pytest.raises(UpstreamTimeout, match="did not start") as raised:
        probe(SVG)
    # The machine's fault, not the document's: the failure memo does not keep it (a 422 from
    # the same probe would be answered again for IMGORIGIN_FAILURE_TTL without a retry).
    memo = FailureMemo(ttl=60)
    memo.remember("key", "a.svg", raised.value)
    assert memo.recall("key") is None
    memo.remember("key", "a.svg", UnprocessableImage("SVG source could not be read in time"))
    assert memo.recall("key") is not None


def test_a_render_whose_child_does_not_start_before_the_deadline_is_a_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from origin.errors import UpstreamTimeout
    from transforms import svgrender

    monkeypatch.setattr(svgrender, "CHILD", _slow_starting_child(30))
    with pytest.raises(UpstreamTimeout, match="did not start"):
        svgrender.render(SVG, 10, 10, time.monotonic() + 0.3)
