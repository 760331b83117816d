"""R17: the same spec and source give byte-identical output in every worker, after a restart and
in this process; and each output of the format matrix still looks as it did (perceptual hashes
against goldens within a threshold), so a libvips upgrade that changes bytes but not pictures
passes, and one that turns, shifts colour or crops differently does not.

The ETag is the variant key, not a hash of the bytes, so two workers that made different bytes
for one variant would hand a CDN two bodies under one validator. Only x86_64 runs here; the
"both CPU kinds" half of R17 needs an arm64 CI runner (not done).

Regenerate the goldens after a deliberate change of the pipeline (and review the diff):
`.venv/bin/python -m tests.reliability.test_r17_determinism`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import pyvips

from tests.support.origin import REPO, OriginProcess
from transforms import Limits, parse, transform

SAMPLES = REPO / "samples"
GOLDEN = Path(__file__).with_name("r17_golden.json")
# (source, options): every output format, alpha, animation, crops, smart crop, filters, rotation.
MATRIX: list[tuple[str, str]] = [
    ("landscape.jpg", "w_320,fmt_jpeg"),
    ("landscape.jpg", "w_320,fmt_webp"),
    ("landscape.jpg", "w_320,fmt_avif"),
    ("landscape.jpg", "w_320,fmt_png"),
    ("landscape.jpg", "w_320,fmt_gif"),
    ("landscape.jpg", "s_200x200,g_attention,fmt_webp"),
    ("landscape.jpg", "s_200x120,g_faces,fmt_webp"),  # the detector runs (no face: attention)
    ("landscape.jpg", "s_200x120,g_faces,facepad_2,fmt_webp"),  # the face zoom's decode
    ("landscape.jpg", "crop_100:100:800:600,w_200,fmt_jpeg"),
    ("landscape.jpg", "w_300,blur_2,gray,fmt_png"),
    ("landscape.jpg", "w_240,rot_90,flop,sharpen_1,q_60,fmt_jpeg"),
    ("logo.png", "w_128,fmt_png"),
    ("logo.png", "w_128,fmt_webp"),
    ("logo.png", "w_128,fmt_avif"),
    ("logo.png", "w_128,bg_ff0000,fmt_jpeg"),
    ("logo.png", "s_100x60,fit_contain,bg_00ff0080,fmt_png"),
    ("products/shoe.jpg", "w_256,q_50,progressive,fmt_jpeg"),
    ("spinner.gif", "w_64,fmt_gif"),
    ("spinner.gif", "w_64,fmt_webp"),
    ("spinner.gif", "w_64,anim_0,fmt_png"),
]
HAMMING_LIMIT = 6  # of 64 bits, in each of the two hashes
MEAN_LIMIT = 6.0  # per channel, 0..255


def _path(source: str, options: str) -> str:
    return f"/{options}/{source}"


def in_process(source: str, options: str) -> bytes:
    parsed = parse(options).options
    result = transform((SAMPLES / source).read_bytes(), parsed, parsed.format or "original",
                       Limits(), deadline=time.monotonic() + 60)
    return result.body


def fingerprint(body: bytes) -> dict[str, object]:
    """Size, pages, a 64-bit difference hash of the first page and its mean colour (on white)."""
    image = pyvips.Image.new_from_buffer(body, "")
    pages = image.get("n-pages") if image.get_typeof("n-pages") else 1
    height = image.get("page-height") if image.get_typeof("page-height") else image.height
    first = image.crop(0, 0, image.width, height).colourspace("srgb")
    if first.hasalpha():
        first = first.flatten(background=[255, 255, 255])
    mean = [round(first[band].avg(), 1) for band in range(3)]
    grey = first.colourspace("b-w").thumbnail_image(9, height=9, size="force")
    px = grey[0].write_to_memory()
    across = "".join("1" if px[r * 9 + c] > px[r * 9 + c + 1] else "0"
                     for r in range(8) for c in range(8))
    down = "".join("1" if px[r * 9 + c] > px[(r + 1) * 9 + c] else "0"
                   for r in range(8) for c in range(8))
    return {"width": image.width, "height": height, "pages": pages,
            "dhash": f"{int(across, 2):016x}", "vhash": f"{int(down, 2):016x}", "mean": mean}


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.fixture(autouse=True, scope="module")
def one_libvips_thread() -> Iterator[None]:
    """This process renders as a server worker does by default (IMGORIGIN_VIPS_CONCURRENCY=1):
    AVIF's bytes depend on the thread count."""
    before = pyvips.concurrency_get()
    pyvips.concurrency_set(1)
    yield
    pyvips.concurrency_set(before)


def test_r17_same_spec_twice_in_one_process_is_byte_identical() -> None:
    for source, options in MATRIX:
        assert in_process(source, options) == in_process(source, options), options


def test_r17_outputs_match_their_golden_perceptual_hashes() -> None:
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN.name} missing: run python -m tests.reliability.test_r17_determinism")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == sorted(_path(s, o) for s, o in MATRIX), "regenerate the goldens"
    drifted = []
    for source, options in MATRIX:
        want, got = golden[_path(source, options)], fingerprint(in_process(source, options))
        bits = max(distance(str(want[h]), str(got[h])) for h in ("dhash", "vhash"))
        shift = max(abs(a - b) for a, b in zip(want["mean"], got["mean"], strict=True))  # type: ignore[call-overload]
        same_shape = [want[k] for k in ("width", "height", "pages")] == [
            got[k] for k in ("width", "height", "pages")]
        if not same_shape or bits > HAMMING_LIMIT or shift > MEAN_LIMIT:
            drifted.append((options, source, want, got, bits, shift))
    assert not drifted, drifted


def _bodies(server: OriginProcess, connections: int = 1) -> dict[str, list[bytes]]:
    """Every matrix variant, each asked on `connections` new connections (new connections are
    spread over the workers)."""
    found: dict[str, list[bytes]] = {}
    for source, options in MATRIX:
        path = _path(source, options)
        for _ in range(connections):
            with httpx.Client(timeout=30) as client:
                answer = client.get(server.url(path))
            assert answer.status_code == 200, (path, answer.text[:200])
            found.setdefault(path, []).append(answer.content)
    return found


def test_r17_workers_restarts_and_this_process_make_the_same_bytes(tmp_path: Path) -> None:
    # No cache anywhere: every request runs the pipeline, in whichever worker it lands on.
    env = {"IMGORIGIN_SOURCE": str(SAMPLES), "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0",
           "IMGORIGIN_DISK_CACHE": "off", "IMGORIGIN_REBALANCE_GAP": "0"}
    expected = {_path(s, o): in_process(s, o) for s, o in MATRIX}
    with OriginProcess(env, workers=2) as server:
        workers = [psutil.Process(pid) for pid in server.worker_pids()]
        cpu_before = [sum(w.cpu_times()[:2]) for w in workers]
        transforms_before = server.metric("imgorigin_transforms_total")
        first = _bodies(server, connections=4)
        cpu_used = [sum(w.cpu_times()[:2]) - b for w, b in zip(workers, cpu_before, strict=True)]
        transforms = server.metric("imgorigin_transforms_total") - transforms_before
    assert transforms == 4 * len(MATRIX)  # each answer was computed, none cached
    assert min(cpu_used) > 0.2, cpu_used  # and both workers computed some of them
    with OriginProcess(env) as restarted:
        second = _bodies(restarted)
    for path, want in expected.items():
        assert {*first[path], *second[path]} == {want}, path


def test_r17_hosts_with_another_thread_count_never_give_one_etag_other_bytes() -> None:
    """Hosts sharing one cache and CDN may run different `IMGORIGIN_VIPS_CONCURRENCY`. AVIF's
    bytes depend on it, so its variants are keyed apart; every other format's are the same."""
    env = {"IMGORIGIN_SOURCE": str(SAMPLES), "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0",
           "IMGORIGIN_DISK_CACHE": "off"}
    answers: list[dict[str, tuple[str, bytes]]] = []
    for threads in ("1", "4"):
        with OriginProcess({**env, "IMGORIGIN_VIPS_CONCURRENCY": threads}) as server, \
                httpx.Client(timeout=30) as client:
            found = {}
            for source, options in MATRIX:
                answer = client.get(server.url(_path(source, options)))
                assert answer.status_code == 200
                found[_path(source, options)] = (answer.headers["etag"], answer.content)
            answers.append(found)
    one, four = answers
    for path in one:
        (etag_1, body_1), (etag_4, body_4) = one[path], four[path]
        assert etag_1 != etag_4 or body_1 == body_4, path  # one ETag, one body
        if "fmt_avif" not in path:
            assert (etag_1, body_1) == (etag_4, body_4), path


def _write_goldens() -> None:
    golden = {_path(s, o): fingerprint(in_process(s, o)) for s, o in MATRIX}
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(golden)} fingerprints to {GOLDEN.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    pyvips.concurrency_set(1)
    _write_goldens()
