"""S22 at the server: a few hundred random paths against the running app never give a 5xx
other than the documented 502/503/504, and never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin.security import signing
from tests.security.support import AppServer, jpeg, raw_get
from tests.security.test_s22_grammar_fuzz import cloudinary_params, imgix_params, segments

KEY = "0123456789abcdef"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root: Path = tmp_path_factory.mktemp("fuzz-src")
    (root / "a.jpg").write_bytes(jpeg(48, 32))
    (root / "sub").mkdir()
    (root / "sub" / "b.jpg").write_bytes(jpeg(20, 30))
    (root / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with AppServer({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_MAX_DIM": "96",
                    "IMGORIGIN_PRESETS": "thumb:w_16", "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0",
                    "IMGORIGIN_ALLOWED_HOSTS": "img.example.com",
                    "IMGORIGIN_CLOUDINARY_PREFIX": "demo",
                    "IMGORIGIN_IMGIX_PREFIX": "ix"}) as server:
        yield server


@pytest.fixture(scope="module")
def signed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root: Path = tmp_path_factory.mktemp("fuzz-signed")
    (root / "a.jpg").write_bytes(jpeg(48, 32))
    with AppServer({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_MAX_DIM": "96",
                    "IMGORIGIN_SIGNING_KEYS": KEY}) as server:
        yield server


sources = st.sampled_from(["a.jpg", "sub/b.jpg", "junk.png", "missing.jpg", "sub", "sub/",
                           "..%2fa.jpg", "http://img.example.com:1/a.jpg", "http://x.org/a",
                           "file:///etc/passwd", "%00", "a.jpg%3Fx", "%ff.jpg"])
OK = {200, 304, 400, 403, 404, 413, 415, 422, 429, 502, 503, 504}
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(segments, sources)
def test_s22_server_fuzz_never_500(app: AppServer, segment: str, source: str) -> None:
    r = app.get(f"/{quote(segment, safe=',:_')}/{source}")
    assert r.status_code in OK and r.status_code != 500, (segment, source, r.text)


@FUZZ
@given(st.lists(cloudinary_params, max_size=3), sources)
def test_s22_server_fuzz_cloudinary_urls_never_500(app: AppServer, components: list[list[str]],
                                                   source: str) -> None:
    # Through the whole pipeline: crop modes, gravity offsets and shares on real (small) images.
    path = "/".join(quote(",".join(c), safe=",:_") for c in components if c)
    r = app.get(f"/demo/image/upload/{path}/{source}".replace("//", "/"))
    assert r.status_code in OK and r.status_code != 500, (path, source, r.text)


@FUZZ
@given(imgix_params, sources)
def test_s22_server_fuzz_imgix_urls_never_500(app: AppServer, params: list[str],
                                             source: str) -> None:
    # The query is the options: fits, crops, fills and colours on real (small) images.
    query = "&".join(quote(p, safe="=,:%") for p in params)
    r = app.get(f"/ix/{source}?{query}")
    assert r.status_code in OK and r.status_code != 500, (query, source, r.text)


@FUZZ
@given(st.binary(min_size=1, max_size=80))
def test_s22_server_fuzz_raw_bytes(app: AppServer, tail: bytes) -> None:
    # Bytes straight onto the request line (no client normalisation), minus what HTTP forbids.
    tail = bytes(b for b in tail if b > 0x20 and b not in (0x7F, 0x23, 0x3F))
    status, _ = raw_get(app.port, b"/" + tail)
    assert status in OK | {405}, tail


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments, st.booleans())
def test_s22_signed_server_fuzz(signed_app: AppServer, segment: str, sign: bool) -> None:
    path = f"/{quote(segment, safe=',:_')}/a.jpg"
    if sign:
        path = "/" + signing.sign(path, KEY) + path
    r = signed_app.get(path)
    assert r.status_code in OK, (segment, r.text)
    if not sign:
        assert r.status_code == 403
