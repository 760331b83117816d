"""The contract's response table, against the real server over the bundled samples."""

from __future__ import annotations

import httpx
import pyvips

from tests.support.origin import OriginProcess


def get(origin: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(origin.url(path), headers=headers, timeout=30)


def test_success_headers(origin: OriginProcess) -> None:
    r = get(origin, "/w_320,h_240,fmt_webp/landscape.jpg")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/webp"
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["etag"].startswith('"') and not r.headers["etag"].startswith("W/")
    cc = r.headers["cache-control"]
    assert "public" in cc and "max-age=86400" in cc
    assert "stale-while-revalidate=86400" in cc and "stale-if-error=604800" in cc
    assert "s-maxage" not in cc
    assert "max-age=31536000" in r.headers["cdn-cache-control"]
    assert "max-age=31536000" in r.headers["surrogate-control"]
    assert r.headers["surrogate-key"].split()[0].startswith("s-")
    assert r.headers["cache-tag"].split(",")[0] == r.headers["surrogate-key"].split()[0]
    assert "vary" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (320, 240)


def test_fmt_auto_negotiates_and_varies(origin: OriginProcess) -> None:
    cases = {
        "image/avif,image/webp,*/*": "image/avif",
        "image/webp,*/*": "image/webp",
        "*/*": "image/jpeg",
        "image/*": "image/jpeg",
        "image/avif;q=0,image/webp": "image/webp",
    }
    for accept, expected in cases.items():
        r = get(origin, "/w_100,fmt_auto/landscape.jpg", accept=accept)
        assert r.status_code == 200, accept
        assert r.headers["content-type"] == expected, accept
        assert r.headers["vary"] == "Accept"
    # A source with alpha and no modern format accepted gets PNG.
    r = get(origin, "/w_100,fmt_auto/logo.png", accept="*/*")
    assert r.headers["content-type"] == "image/png"


def test_if_none_match_gives_304(origin: OriginProcess) -> None:
    first = get(origin, "/w_200/products/shoe.jpg")
    etag = first.headers["etag"]
    second = get(origin, "/w_200/products/shoe.jpg", **{"if-none-match": etag})
    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == etag
    assert second.headers["cache-control"] == first.headers["cache-control"]
    other = get(origin, "/w_200/products/shoe.jpg", **{"if-none-match": '"nope"'})
    assert other.status_code == 200


def test_head_has_headers_and_no_body(origin: OriginProcess) -> None:
    got = get(origin, "/w_150/products/shoe.jpg")
    head = httpx.head(origin.url("/w_150/products/shoe.jpg"), timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["etag"] == got.headers["etag"]


def test_repeat_request_runs_no_pipeline(origin: OriginProcess) -> None:
    path = "/w_333,q_71/landscape.jpg"
    first = get(origin, path)
    assert first.status_code == 200
    assert "transform" in first.headers["server-timing"]
    before = origin.metric("imgorigin_transforms_total")
    for _ in range(5):
        again = get(origin, path)
        assert again.content == first.content
        assert again.headers["server-timing"].startswith(("memory", "disk"))
    assert origin.metric("imgorigin_transforms_total") == before


def test_equivalent_urls_share_one_variant(origin: OriginProcess) -> None:
    a = get(origin, "/w_210,h_120,dpr_2.0,f_jpg/landscape.jpg")
    before = origin.metric("imgorigin_transforms_total")
    b = get(origin, "/format_jpeg,s_210x120,dpr_2/landscape.jpg")
    assert a.headers["etag"] == b.headers["etag"]
    assert origin.metric("imgorigin_transforms_total") == before


def test_errors_are_json_no_store(origin: OriginProcess) -> None:
    cases = {
        "/w_0/landscape.jpg": 400,
        "/w_100,w_200/landscape.jpg": 400,
        "/w_100,width_200/landscape.jpg": 400,
        "/s_10x10,h_5/landscape.jpg": 400,
        "/bogus_1/landscape.jpg": 400,
        "/q_101/landscape.jpg": 400,
        "/dpr_NaN/landscape.jpg": 400,
        "/dpr_1e309/landscape.jpg": 400,
        "/exp_1999999999/landscape.jpg": 400,
        "/w_100/missing.jpg": 404,
        "/w_100/http%3A%2F%2Fexample.com%2Fa.jpg": 403,
        "/w_100/file:///etc/passwd": 400,
        "/w_100/a/..%2f..%2fetc/passwd": 400,
    }
    for path, status in cases.items():
        r = get(origin, path)
        assert r.status_code == status, (path, r.text)
        body = r.json()
        assert set(body) == {"error", "detail"}, path
        if status == 404:
            assert r.headers["cache-control"] == "public, max-age=60"
        else:
            assert r.headers["cache-control"] == "no-store", path
        assert "/work" not in r.text and "Traceback" not in r.text


def test_400_names_the_token(origin: OriginProcess) -> None:
    r = get(origin, "/w_100,blur_500/landscape.jpg")
    assert r.status_code == 400
    assert "blur_500" in r.json()["detail"]


def test_ops_endpoints(origin: OriginProcess) -> None:
    assert get(origin, "/-/healthz").status_code == 200
    ready = get(origin, "/-/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    text = get(origin, "/-/metrics").text
    for name in ("imgorigin_requests_total", "imgorigin_transforms_total",
                 "imgorigin_request_duration_seconds_bucket"):
        assert name in text
    assert get(origin, "/-/nothing").status_code == 404


def test_smart_crops_of_sequentially_decoded_sources(origin: OriginProcess) -> None:
    # attention/entropy read the pixels twice; a JPEG decoded on the fly (shrink-on-load) must
    # still be cropped, not fail with an out-of-order read.
    for path in ("/s_200x100,g_attention/landscape.jpg", "/s_200x100,g_entropy/products/shoe.jpg",
                 "/s_120x160,g_attention,rot_90,fmt_webp/landscape.jpg",
                 "/s_90x90,g_entropy,crop_100:100:1200:800/landscape.jpg"):
        r = get(origin, path)
        assert r.status_code == 200, (path, r.text)
        image = pyvips.Image.new_from_buffer(r.content, "")
        w, h = (int(n) for n in path.split("s_")[1].split(",")[0].split("x"))
        assert (image.width, image.height) == (w, h), path


def test_wrong_methods_get_a_json_405_with_allow_and_no_store(origin: OriginProcess) -> None:
    cases = [("POST", "/w_100/landscape.jpg", "GET, HEAD"),
             ("OPTIONS", "/w_100/landscape.jpg", "GET, HEAD"),
             ("DELETE", "/", "GET, HEAD"), ("PUT", "/-/metrics", "GET, HEAD"),
             ("GET", "/-/purge", "POST"), ("POST", "/-/healthz", "GET, HEAD")]
    for method, path, allow in cases:
        r = httpx.request(method, origin.url(path), timeout=30)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.headers["allow"] == allow
        assert r.headers["cache-control"] == "no-store"
        assert r.json()["error"] == "method_not_allowed"
    unknown = httpx.request("PATCH", origin.url("/-/nothing"), timeout=30)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


def test_an_empty_options_segment_is_a_400(origin: OriginProcess) -> None:
    r = get(origin, "//landscape.jpg")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_options")
    assert get(origin, "/_/landscape.jpg").status_code == 200
