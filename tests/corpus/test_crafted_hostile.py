"""Hostile images crafted in the test (pyvips and raw bytes, never committed), served by one real
origin from a temporary directory: S11 header bombs, S12 frame floods, S16 formats and the
untrusted-loader block, S17 large progressive/interlaced sources, SVG references and deadlines.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import pyvips

from tests.support.origin import REPO, OriginProcess

REQUEST_TIMEOUT = 4.0  # the server's deadline in this module (IMGORIGIN_REQUEST_TIMEOUT)
MIB = 1024 * 1024


# --- crafted images -------------------------------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def jpeg_bomb(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose SOF0 is patched to declare width x height."""
    data = bytearray(pyvips.Image.black(16, 16).jpegsave_buffer(keep=0))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_bomb(width: int, height: int) -> bytes:
    """A real lossless WebP whose VP8L header is patched to declare width x height (<= 16383)."""
    data = bytearray(pyvips.Image.black(16, 16).webpsave_buffer(lossless=True))
    at = data.index(b"VP8L") + 8
    assert data[at] == 0x2F
    (bits,) = struct.unpack("<I", data[at + 1:at + 5])
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[at + 1:at + 5] = struct.pack("<I", bits)
    if data[12:16] == b"VP8X":  # the extended header repeats the canvas size (24-bit fields)
        data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


# LZW, minimum code size 2: clear (4), one pixel of colour 0, end (5), packed LSB first.
_TINY_LZW = b"\x02\x02\x44\x01\x00"


def gif_bomb(width: int, height: int, frames: int = 1) -> bytes:
    """A GIF whose screen and every frame declare width x height, each with one pixel of data."""
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00" * 3 + b"\xff" * 3
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + _TINY_LZW
    return head + frame * frames + b";"


def animation(frames: int, size: int, fmt: str) -> bytes:
    """`frames` size x size checkerboards, inverted from one frame to the next (encoders merge
    identical consecutive frames), 40 ms each."""
    xyz = pyvips.Image.xyz(size, size * frames)
    frame = (xyz[1] / size).cast("int")
    strip = (((xyz[0] + xyz[1] + frame) % 2) * 255).cast("uchar")
    strip = strip.bandjoin([strip, strip]).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", size)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [40] * frames)
    if fmt == "gif":
        return strip.gifsave_buffer(effort=1)
    return strip.webpsave_buffer(effort=0, lossless=True)


def slow_svg(size: int = 1000) -> bytes:
    """Twenty blurred, dilated circles: librsvg needs ~40 s at 1000x1000 on this machine."""
    shapes = "".join(
        f'<circle cx="{(i * 37) % size}" cy="{(i * 91) % size}" r="{size // 4}" '
        f'fill="#{i % 256:02x}8040" filter="url(#b)"/>' for i in range(20))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}"><defs>'
            '<filter id="b" x="-50%" y="-50%" width="200%" height="200%">'
            '<feGaussianBlur stdDeviation="20"/><feMorphology radius="30"/></filter></defs>'
            f"{shapes}</svg>").encode()


def referencing_svg(port: int, secret_png: Path) -> bytes:
    """Every way an SVG can ask for something outside itself, pointed at a canary and a file."""
    canary = f"http://127.0.0.1:{port}"
    return f"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="100" height="100">
  <style>@import url({canary}/style.css); rect {{ fill: url({canary}/p.svg#p) }}</style>
  <image width="100" height="100" xlink:href="{canary}/a.png"/>
  <image width="100" height="100" href="{canary}/b.png"/>
  <image width="100" height="100" xlink:href="file://{secret_png}"/>
  <image width="100" height="100" xlink:href="{secret_png}"/>
  <filter id="f"><feImage xlink:href="{canary}/c.png"/></filter>
  <rect width="100" height="100" filter="url(#f)"/>
  <use xlink:href="{canary}/d.svg#x"/>
</svg>""".encode()


# --- fixtures -------------------------------------------------------------------------------

class Canary:
    """A TCP listener on a free loopback port that counts accepted connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepts += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> Path:
    root = tmp_path_factory.mktemp("crafted")
    files = {
        "ok.png": pyvips.Image.black(64, 48).pngsave_buffer(),
        "bomb_png_100000x100000.png": png_bomb(100_000, 100_000),
        "bomb_jpeg_65500x65500.jpg": jpeg_bomb(65_500, 65_500),
        "bomb_webp_16383x16383.webp": webp_bomb(16_383, 16_383),
        "bomb_gif_65535x65535.gif": gif_bomb(65_535, 65_535),
        "frames_gif_5000.gif": animation(5000, 8, "gif"),
        "frames_webp_5000.webp": animation(5000, 8, "webp"),
        "frames_gif_120x1000x1000.gif": gif_bomb(1000, 1000, frames=120),
        "slow.svg": slow_svg(),
        "fits.fits": b"SIMPLE  =                    T" + b" " * 2850,
        "matlab.mat": b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + b" " * 90,
        "pixmap.ppm": b"P6\n2 2\n255\n" + b"\x80" * 12,
        "matrix.mat": b"2 2\n1 2\n3 4\n",
        "plain.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    }
    secret = root / "secret.png"
    secret.write_bytes((pyvips.Image.black(100, 100) + [255, 0, 0]).cast("uchar").pngsave_buffer())
    files["references.svg"] = referencing_svg(canary.port, secret)
    pyvips.Image.black(8, 8).write_to_file(str(root / "native.v"))
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def server(source_dir: Path) -> Iterator[OriginProcess]:
    env = {"IMGORIGIN_SOURCE": str(source_dir),
           "IMGORIGIN_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
    with OriginProcess(env, workers=1) as origin:
        yield origin


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def _worker(server: OriginProcess) -> psutil.Process:
    (pid,) = server.worker_pids()
    return psutil.Process(pid)


def _reset_peak(process: psutil.Process) -> None:
    """Start a new peak-RSS (VmHWM) window; root may do this for any process."""
    Path(f"/proc/{process.pid}/clear_refs").write_text("5")


def _peak_rss(process: psutil.Process) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _get(client: httpx.Client, server: OriginProcess, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = client.get(server.url(path))
    return r, time.monotonic() - started


# --- S11 ------------------------------------------------------------------------------------

BOMBS = ("bomb_png_100000x100000.png", "bomb_jpeg_65500x65500.jpg",
         "bomb_webp_16383x16383.webp", "bomb_gif_65535x65535.gif")


def test_s11_header_bombs_refused_from_the_header(server: OriginProcess,
                                                  client: httpx.Client) -> None:
    assert _get(client, server, "/w_32/ok.png")[0].status_code == 200  # warm up the worker
    worker = _worker(server)
    transforms = server.metric("imgorigin_transforms_total")
    rss = worker.memory_info().rss
    for name in BOMBS:
        for options in ("w_200", "w_200,fmt_webp", "_"):
            r, elapsed = _get(client, server, f"/{options}/{name}")
            assert r.status_code == 422, (name, r.text)
            assert "limit" in r.json()["detail"], (name, r.text)
            # Budget 50 ms (benchmarked elsewhere); a generous bound for a busy CI machine.
            assert elapsed < 0.5, (name, elapsed)
    growth = worker.memory_info().rss - rss
    assert growth < 20 * MIB, f"RSS grew {growth / MIB:.1f} MiB"
    assert server.metric("imgorigin_transforms_total") == transforms


# --- S12 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["frames_gif_5000.gif", "frames_webp_5000.webp"])
def test_s12_frame_floods(name: str, server: OriginProcess, client: httpx.Client) -> None:
    """Over the 500-frame cap: 422 when the frames would be kept; a still takes frame 0 only."""
    worker = _worker(server)
    _get(client, server, "/w_32/ok.png")
    _reset_peak(worker)
    baseline = worker.memory_info().rss
    r, elapsed = _get(client, server, f"/w_8/{name}")
    assert r.status_code == 422 and "frames" in r.json()["detail"], r.text
    assert elapsed < 2
    r, elapsed = _get(client, server, f"/w_8,fmt_png/{name}")
    assert r.status_code == 200, r.text
    assert elapsed < 2
    still = pyvips.Image.new_from_buffer(r.content, "")
    assert (still.width, still.height) == (8, 8)
    assert still.get("n-pages") if still.get_typeof("n-pages") else 1 == 1
    # Frame 0's checkerboard starts black at the top left.
    assert still[0](0, 0)[0] == 0 and still[0](1, 0)[0] == 255
    # Single-frame budget: decoding 5000 8x8 frames is tiny anyway; what must not happen is a
    # per-frame allocation explosion.
    assert _peak_rss(worker) - baseline < 40 * MIB


def test_s12_pixel_limit_counts_every_frame(server: OriginProcess, client: httpx.Client) -> None:
    """120 frames of 1000x1000 is 120 MP: over the 100 MP limit only when all frames load."""
    r, _ = _get(client, server, "/w_100/frames_gif_120x1000x1000.gif")
    assert r.status_code == 422
    assert "x120 frames" in r.json()["detail"]
    r, _ = _get(client, server, "/w_100,anim_false/frames_gif_120x1000x1000.gif")
    assert "x120 frames" not in r.text


# --- S16 ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "status"), [
    ("fits.fits", 415), ("matlab.mat", 415), ("pixmap.ppm", 415), ("native.v", 422),
    ("matrix.mat", 422),
])
def test_s16_untrusted_formats_refused(name: str, status: int, server: OriginProcess,
                                       client: httpx.Client) -> None:
    """Known non-web formats are 415; bytes only an untrusted loader would read are 422 (no
    trusted loader recognises them: the untrusted ones are blocked)."""
    r, _ = _get(client, server, f"/w_10/{name}")
    assert r.status_code == status, r.text


_UNTRUSTED_PROBE = """
import sys
import pyvips
from transforms import vipsconfig
if sys.argv[1] == "configured":
    print(vipsconfig.configure(concurrency=1, cache_max_mem=0))
source = pyvips.Source.new_from_file(sys.argv[2])
try:
    pyvips.Image.new_from_source(source, "").avg()
    print("loaded")
except pyvips.Error as exc:
    print("refused", str(exc).replace(chr(10), " "))
"""


def test_s16_untrusted_loader_block_is_active(source_dir: Path) -> None:
    """vipsload is an untrusted libvips loader: it reads a file unconfigured, and after the
    worker's configuration (libvips >= 8.13 asserted there) no loader will take the file."""
    assert (pyvips.version(0), pyvips.version(1)) >= (8, 13)

    def probe(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", _UNTRUSTED_PROBE, mode,
                               str(source_dir / "native.v")], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout

    assert "loaded" in probe("plain")
    out = probe("configured")
    assert "refused" in out, out


def test_s16_svg_refused_when_configured(source_dir: Path) -> None:
    with OriginProcess({"IMGORIGIN_SOURCE": str(source_dir), "IMGORIGIN_SVG": "refuse"}) as o:
        r = httpx.get(o.url("/w_10/plain.svg"), timeout=10)
        assert r.status_code == 415
        assert httpx.get(o.url("/w_10/ok.png"), timeout=10).status_code == 200


# --- SVG ------------------------------------------------------------------------------------

def test_svg_references_never_fetched_or_read(server: OriginProcess, client: httpx.Client,
                                              canary: Canary) -> None:
    r, elapsed = _get(client, server, "/fmt_png/references.svg")
    assert r.status_code == 200, r.text
    assert elapsed < 2
    image = pyvips.Image.new_from_buffer(r.content, "")
    # The red secret.png and any canary answer would show; the render must be empty.
    assert image.hasalpha() and image[3].max() == 0
    time.sleep(0.2)
    assert canary.accepts == 0


def test_svg_render_stops_at_the_deadline(server: OriginProcess, client: httpx.Client) -> None:
    """librsvg cannot be interrupted; the child process rendering it is killed instead."""
    worker = _worker(server)
    r, elapsed = _get(client, server, "/w_1000,fmt_png/slow.svg")
    assert r.status_code in (503, 504), r.text
    assert elapsed < REQUEST_TIMEOUT + 1.5
    # The worker is free again at once: same process, healthy, serving transforms.
    r, elapsed = _get(client, server, "/w_40/ok.png")
    assert r.status_code == 200 and elapsed < 2, elapsed
    assert client.get(server.url("/-/healthz")).status_code == 200
    assert _worker(server).pid == worker.pid
    assert not [c for c in worker.children(recursive=True)
                if "svgrender" in " ".join(c.cmdline())]


# --- S17 ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def large_sources(source_dir: Path) -> dict[str, Path]:
    """A 24 MP progressive JPEG and a 6 MP Adam7 PNG (libspng decodes an interlaced PNG whole:
    12 MP took 2 s here, too close to this module's 4 s deadline on a busy machine)."""
    pattern = pyvips.Image.xyz(6000, 4000)
    rgb = (pattern[0] * 7 + pattern[1] * 3).cast("uchar").bandjoin(
        [(pattern[0] // 3).cast("uchar"), (pattern[1] // 2).cast("uchar")])
    rgb = rgb.copy(interpretation="srgb")
    paths = {"progressive": source_dir / "large_progressive.jpg",
             "interlaced": source_dir / "large_interlaced.png"}
    paths["progressive"].write_bytes(rgb.jpegsave_buffer(interlace=True, Q=70))
    paths["interlaced"].write_bytes(
        rgb.crop(0, 0, 3000, 2000).pngsave_buffer(interlace=True, compression=1))
    return paths


@pytest.mark.parametrize("kind", ["progressive", "interlaced"])
def test_s17_large_progressive_and_interlaced_under_budget(
    kind: str, large_sources: dict[str, Path], server: OriginProcess, client: httpx.Client,
) -> None:
    worker = _worker(server)
    _get(client, server, "/w_32/ok.png")
    _reset_peak(worker)
    baseline = worker.memory_info().rss
    r, elapsed = _get(client, server, f"/w_400,fmt_webp/{large_sources[kind].name}")
    assert r.status_code == 200, r.text
    assert elapsed < REQUEST_TIMEOUT
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert image.width == 400
    peak = _peak_rss(worker) - baseline
    # Measured on the 2-core machine: 77 MiB (24 MP progressive JPEG, 0.15 s: libjpeg-turbo
    # still scales the DCT on load) and 52 MiB (12 MP interlaced PNG, 2.1 s). Bound with headroom.
    assert peak < 200 * MIB, f"peak RSS grew {peak / MIB:.0f} MiB"
