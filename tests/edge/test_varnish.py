"""End to end: real varnishd running edge-config/varnish/default.vcl in front of the real
origin (2 gunicorn workers) and real Redis (the embedded disk tier when the Redis tier is not
built). Names follow R16 (edge contract) and R14/R15 (purge) where they apply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.edge.accepts import CHROME, FIREFOX, LEGACY, MAGIC, SAFARI_15
from tests.edge.stack import PURGE_TOKEN, Stack, edge_stack
from tests.edge.varnish import VarnishProcess
from tests.support.net import wait_until
from tests.support.origin import REPO


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with edge_stack({"IMGORIGIN_IMGPROXY_PREFIX": "imgproxy", "IMGORIGIN_THUMBOR_PREFIX": "thumbor",
                     "IMGORIGIN_IPX_PREFIX": "_ipx", "IMGORIGIN_CLOUDINARY_PREFIX": "demo",
                     "IMGORIGIN_IMGIX_PREFIX": "imgix"}) as s:
        yield s


def get(stack: Stack, path: str, accept: str = CHROME, **headers: str) -> httpx.Response:
    return httpx.get(stack.varnish.url(path), headers={"Accept": accept, **headers}, timeout=30)


def origin_transform_requests(stack: Stack) -> float:
    return stack.origin.metric("imgorigin_requests_total", route="transform")


def purge(stack: Stack, **body: Any) -> dict:
    r = httpx.post(stack.origin.url("/-/purge"), json=body, timeout=30,
                   headers={"Authorization": f"Bearer {PURGE_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_r16_first_request_misses_everywhere_repeat_is_a_varnish_hit(
        stack: Stack, record_property: pytest.RecordProperty) -> None:
    record_property("shared_tier", stack.shared_tier)
    path = "/w_320,fmt_auto/landscape.jpg"
    requests_before = origin_transform_requests(stack)
    transforms_before = stack.origin.metric("imgorigin_transforms_total")
    first = get(stack, path)
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    assert first.headers["server-timing"].startswith("transform;")  # a miss at the origin too
    assert stack.origin.metric("imgorigin_transforms_total") == transforms_before + 1
    assert origin_transform_requests(stack) == requests_before + 1

    second = get(stack, path)
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    # The repeat never reached the origin (the counter spans both workers).
    assert origin_transform_requests(stack) == requests_before + 1
    assert stack.origin.metric("imgorigin_transforms_total") == transforms_before + 1
    # Browser-facing headers: the origin's Cache-Control, no surrogate-only headers.
    assert "stale-while-revalidate" in second.headers["cache-control"]
    for edge_only in ("surrogate-control", "surrogate-key", "xkey", "cdn-cache-control"):
        assert edge_only not in second.headers


@pytest.mark.parametrize(("accept", "also", "content_type"), [
    (CHROME, FIREFOX, "image/avif"),
    (SAFARI_15, "image/webp,*/*", "image/webp"),
    (LEGACY, "*/*", "image/jpeg"),
])
def test_r16_accept_classes_get_separate_correct_objects(
        stack: Stack, accept: str, also: str, content_type: str) -> None:
    path = "/w_240,fmt_auto/products/shoe.jpg"
    first = get(stack, path, accept)
    assert first.status_code == 200
    assert first.headers["content-type"] == content_type
    assert MAGIC[content_type](first.content)
    assert first.headers["vary"] == "Accept"
    before = origin_transform_requests(stack)
    # Another browser of the same class shares the object: Accept is normalised, not keyed raw.
    for header in (accept, also, accept):
        again = get(stack, path, header)
        assert again.headers["x-cache"] == "HIT", header
        assert again.headers["content-type"] == content_type
        assert again.content == first.content
    assert origin_transform_requests(stack) == before


def test_r16_accept_normalisation_cannot_poison(stack: Stack) -> None:
    path = "/w_200,fmt_auto/logo.png"
    # Refusals and look-alikes must land in the class the origin would choose.
    cases = [
        ("image/avif;q=0, image/webp", "image/webp"),
        ("image/avif;q=0.0,image/webp;q=0", "image/png"),  # logo has alpha: legacy is PNG
        ("image/avifx, image/webpx", "image/png"),
        ("IMAGE/AVIF", "image/avif"),
        ("", "image/png"),
    ]
    for accept, content_type in cases:
        r = get(stack, path, accept)
        assert r.headers["content-type"] == content_type, accept
        assert MAGIC[content_type](r.content)
        # What the origin itself answers for that Accept, without Varnish:
        direct = httpx.get(stack.origin.url(path), headers={"Accept": accept}, timeout=30)
        assert direct.headers["content-type"] == content_type, accept


def test_r16_cookies_and_query_strings_do_not_fragment_the_cache(stack: Stack) -> None:
    path = "/w_180,fmt_webp/landscape.jpg"
    assert get(stack, path).headers["x-cache"] == "MISS"
    before = origin_transform_requests(stack)
    assert get(stack, path + "?cachebust=1").headers["x-cache"] == "HIT"
    assert get(stack, path, Cookie="session=abc").headers["x-cache"] == "HIT"
    assert origin_transform_requests(stack) == before
    # Operations endpoints other than health are not reachable through the edge.
    assert httpx.get(stack.varnish.url("/-/metrics")).status_code == 404
    assert httpx.post(stack.varnish.url("/-/purge"), json={}).status_code == 404
    assert httpx.get(stack.varnish.url("/-/readyz")).status_code == 200


def test_r14_purge_through_the_origin_empties_varnish_for_every_variant(stack: Stack) -> None:
    # Every object Varnish holds for the shoe: one per Accept class for fmt_auto (Vary), one
    # for each explicit-format URL (no Vary).
    shoe = [("/w_100,fmt_auto/products/shoe.jpg", a) for a in (CHROME, SAFARI_15, LEGACY)]
    shoe += [("/w_150,fmt_png/products/shoe.jpg", CHROME), ("/_/products/shoe.jpg", CHROME)]
    # The fmt_json document is an object like the images, tagged with the same source.
    shoe += [("/w_150,fmt_json/products/shoe.jpg", CHROME)]
    # So are downloads (dl: the plain variant's bytes under another URL) and byte budgets.
    shoe += [("/w_150,dl/products/shoe.jpg", CHROME),
             ("/w_140,mb_2000,fmt_webp/products/shoe.jpg", CHROME)]
    other = "/w_100,fmt_auto/landscape.jpg"
    for path, accept in shoe:
        get(stack, path, accept)
    get(stack, other)
    for path, accept in shoe:
        assert get(stack, path, accept).headers["x-cache"] == "HIT"

    result = purge(stack, sources=["products/shoe.jpg"])
    (cdn,) = result["cdn"]
    assert cdn["name"] == f"varnish:{stack.varnish.base}" and cdn["ok"] is True, cdn
    # Earlier tests may have cached more variants of the shoe.
    assert cdn["detail"]["objects"] >= len(shoe)
    before = origin_transform_requests(stack)
    for path, accept in shoe:
        r = get(stack, path, accept)
        assert r.headers["x-cache"] == "MISS", (path, accept)
        assert r.headers["server-timing"].startswith("transform;")  # origin tiers purged too
    assert origin_transform_requests(stack) == before + len(shoe)
    assert get(stack, other).headers["x-cache"] == "HIT"  # another source is untouched

    # A directory purge reaches the same objects through the d- key.
    result = purge(stack, prefixes=["products/"])
    assert result["cdn"][0]["ok"] is True
    assert result["cdn"][0]["detail"]["objects"] >= len(shoe)
    for path, accept in shoe:
        assert get(stack, path, accept).headers["x-cache"] == "MISS", (path, accept)
    assert get(stack, other).headers["x-cache"] == "HIT"


def test_r14_dialect_urls_are_edge_objects_that_a_source_purge_removes(stack: Stack) -> None:
    # Pages built for imgproxy, thumbor, ipx, Cloudinary or imgix keep their URLs
    # (IMGORIGIN_*_PREFIX);
    # Varnish caches them as native URLs, tagged with the same source, so its purge reaches them.
    paths = ["/imgproxy/insecure/rs:fill:90:60/g:sm/plain/products/shoe.jpg@webp",
             "/imgproxy/insecure/w:70/cHJvZHVjdHMvc2hvZS5qcGc.png",
             "/thumbor/unsafe/fit-in/80x80/filters:format(webp)/products/shoe.jpg",
             "/_ipx/s_50x50&f_avif/products/shoe.jpg",
             "/demo/image/upload/c_fill,w_60,h_40/f_auto/q_auto/products/shoe.jpg",
             "/imgix/products/shoe.jpg?w=90&h=60&fit=crop&crop=edges&fm=webp&q=80"]
    for path in paths:
        first = get(stack, path)
        assert first.status_code == 200, first.text
        assert first.headers["x-cache"] == "MISS"
        assert get(stack, path).headers["x-cache"] == "HIT"
    native = get(stack, "/fmt_webp,g_attention,h_60,w_90/products/shoe.jpg")
    assert native.headers["x-cache"] == "MISS"  # another URL at the edge...
    assert not native.headers["server-timing"].startswith("transform")  # ...same origin entry
    result = purge(stack, sources=["products/shoe.jpg"])
    assert result["cdn"][0]["ok"] is True
    for path in paths:
        again = get(stack, path)
        assert again.headers["x-cache"] == "MISS", path
        assert again.headers["server-timing"].startswith("transform;")


def test_r16_an_imgix_query_is_kept_in_the_key_and_other_queries_are_not(stack: Stack) -> None:
    # imgix URLs carry their options in the query: Varnish keeps it (as sent) in the URL it
    # keys and forwards, while a native URL's query is still dropped.
    small, large = "/imgix/landscape.jpg?w=60&fm=png", "/imgix/landscape.jpg?w=90&fm=png"
    a, b = get(stack, small), get(stack, large)
    assert (a.status_code, b.status_code) == (200, 200), (a.text, b.text)
    assert (a.headers["x-cache"], b.headers["x-cache"]) == ("MISS", "MISS")
    assert a.content != b.content
    assert get(stack, small).headers["x-cache"] == "HIT"
    assert get(stack, large).content == b.content
    # auto=format: one object per Accept class, each in its own format.
    negotiated = "/imgix/landscape.jpg?w=70&auto=format"
    for accept, content_type in ((CHROME, "image/avif"), (LEGACY, "image/jpeg")):
        r = get(stack, negotiated, accept)
        assert r.headers["content-type"] == content_type, accept
        assert r.headers["x-cache"] == "MISS"
        assert get(stack, negotiated, accept).headers["x-cache"] == "HIT"


def test_r16_on_the_imgix_hostname_every_path_is_an_imgix_url(stack: Stack) -> None:
    # imgix's SDKs take a bare domain: the VCL puts the prefix in front for that hostname.
    path = "/landscape.jpg?w=64&fm=png"
    first = get(stack, path, Host="imgix.example.com")
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png" and first.headers["x-cache"] == "MISS"
    assert get(stack, path, Host="imgix.example.com").headers["x-cache"] == "HIT"
    # The hostname as browsers may write it (Varnish keys each spelling apart, as any host).
    assert get(stack, path, Host="IMGIX.example.com:443").content == first.content
    # The same image as the prefixed URL on another hostname (its own edge object).
    assert get(stack, "/imgix" + path).content == first.content
    # Other hostnames are native as before; health still answers on the imgix one.
    assert get(stack, path).status_code == 400
    assert get(stack, "/-/healthz", Host="imgix.example.com").status_code == 200


def test_r16_a_download_is_an_object_of_its_own_with_the_plain_bytes(stack: Stack) -> None:
    plain, download = "/w_110,fmt_jpeg/landscape.jpg", "/w_110,fmt_jpeg,dl/landscape.jpg"
    a = get(stack, plain)
    b = get(stack, download)
    assert b.headers["x-cache"] == "MISS"  # another URL, so another object at the edge...
    # ...from the origin's same entry (in this worker's memory or the shared tier).
    assert not b.headers["server-timing"].startswith("transform")
    assert b.content == a.content
    assert b.headers["content-disposition"] == 'attachment; filename="landscape.jpg"'
    again = get(stack, download)
    assert again.headers["x-cache"] == "HIT"
    assert again.headers["content-disposition"] == 'attachment; filename="landscape.jpg"'
    assert "content-disposition" not in get(stack, plain).headers


def test_r16_a_url_with_its_own_lifetime_expires_at_the_edge_on_time(stack: Stack) -> None:
    # `maxage_1`: Varnish keeps the object one second, then serves it stale while it refreshes
    # (the server's stale-while-revalidate still applies); the plain URL stays fresh.
    short, plain = "/w_105,fmt_jpeg,maxage_1/landscape.jpg", "/w_105,fmt_jpeg/landscape.jpg"
    first = get(stack, short)
    assert first.headers["x-cache"] == "MISS"
    assert first.headers["cache-control"].startswith("public, max-age=1,")
    get(stack, plain)
    assert get(stack, short).headers["x-cache"] == "HIT"
    wait_until(lambda: False, 1.6)
    assert get(stack, short).headers["x-cache"] == "HIT-STALE"
    assert get(stack, plain).headers["x-cache"] == "HIT"


def test_r14_soft_purge_serves_the_old_image_once_while_varnish_revalidates(
        tmp_path: Path) -> None:
    """A purge with "soft": true: the origin drops its copies at once, Varnish keeps its object
    as a stale copy (xkey.softpurge), serves it once more and fetches the new image behind it."""
    samples = REPO / "samples"
    source = tmp_path / "pic.jpg"
    source.write_bytes((samples / "landscape.jpg").read_bytes())
    with edge_stack({"IMGORIGIN_SOURCE": str(tmp_path)}, workers=1) as s:
        path = "/w_80,fmt_jpeg/pic.jpg"
        old = get(s, path)
        assert old.headers["x-cache"] == "MISS"
        assert get(s, path).headers["x-cache"] == "HIT"

        source.write_bytes((samples / "products" / "shoe.jpg").read_bytes())  # replaced
        (cdn,) = purge(s, sources=["pic.jpg"], soft=True)["cdn"]
        assert cdn["ok"] is True and cdn["soft"] is True and cdn["detail"]["objects"] == 1, cdn
        new = httpx.get(s.origin.url(path), headers={"Accept": CHROME}, timeout=30)
        assert new.headers["etag"] != old.headers["etag"]  # the origin's tiers: gone at once

        stale = get(s, path)
        assert stale.headers["x-cache"] == "HIT-STALE" and stale.content == old.content
        assert wait_until(lambda: get(s, path).content == new.content, 15, interval=0.2)
        refreshed = get(s, path)
        assert refreshed.headers["x-cache"] == "HIT"
        assert refreshed.headers["etag"] == new.headers["etag"]

        # A hard purge (the default) leaves nothing to serve: the next request misses.
        (cdn,) = purge(s, sources=["pic.jpg"])["cdn"]
        assert cdn["soft"] is False and cdn["detail"]["objects"] == 1, cdn
        assert get(s, path).headers["x-cache"] == "MISS"

        # A soft purge of a source that did not change: Varnish revalidates its stale copy with
        # If-None-Match and the origin answers 304 from the key alone, with no transform.
        transforms = s.origin.metric("imgorigin_transforms_total")
        not_modified = s.origin.metric("imgorigin_requests_total", status="304")
        purge(s, sources=["pic.jpg"], soft=True)
        assert get(s, path).headers["x-cache"] == "HIT-STALE"
        assert wait_until(lambda: s.origin.metric("imgorigin_requests_total", status="304")
                          > not_modified, 15, interval=0.2)
        kept = get(s, path)
        assert kept.headers["x-cache"] == "HIT" and kept.headers["etag"] == new.headers["etag"]
        assert kept.content == new.content
        assert s.origin.metric("imgorigin_transforms_total") == transforms


def test_r14_the_fallback_for_a_missing_image_leaves_varnish_with_the_purge_after_upload(
        tmp_path: Path) -> None:
    """IMGORIGIN_FALLBACK_IMAGE: Varnish keeps the placeholder of a missing image (a 404 with the
    not-found lifetime) under the missing source's tags, so the purge sent after the upload
    replaces it with the real image at the edge."""
    samples = REPO / "samples"
    (tmp_path / "src").mkdir()
    fallback = tmp_path / "fallback.png"
    fallback.write_bytes((samples / "logo.png").read_bytes())
    env = {"IMGORIGIN_SOURCE": str(tmp_path / "src"), "IMGORIGIN_FALLBACK_IMAGE": str(fallback)}
    with edge_stack(env, workers=1) as s:
        path = "/w_64,fmt_png/later.jpg"
        placeholder = get(s, path)
        assert placeholder.status_code == 404 and placeholder.headers["x-cache"] == "MISS"
        assert placeholder.headers["imgorigin-fallback"] == "not_found"
        assert MAGIC["image/png"](placeholder.content)
        cached = get(s, path)
        assert cached.headers["x-cache"] == "HIT" and cached.content == placeholder.content

        (tmp_path / "src" / "later.jpg").write_bytes((samples / "landscape.jpg").read_bytes())
        (cdn,) = purge(s, sources=["later.jpg"])["cdn"]
        assert cdn["ok"] is True and cdn["detail"]["objects"] == 1, cdn
        real = get(s, path)
        assert real.status_code == 200 and real.headers["x-cache"] == "MISS"
        assert "imgorigin-fallback" not in real.headers and MAGIC["image/png"](real.content)
        assert real.content != placeholder.content


def test_r14_a_purge_by_watermark_empties_varnish_of_that_watermark_only(
        tmp_path: Path) -> None:
    """A replaced logo makes new keys at the origin at once (the file's digest); the CDN's copies
    go with `"watermarks": [...]` in the purge, by the tag every watermarked answer carries, and
    so do those the file masks (`mask_logo`)."""
    mark = tmp_path / "logo.png"
    mark.write_bytes((REPO / "samples" / "logo.png").read_bytes())
    with edge_stack({"IMGORIGIN_WATERMARKS": f"logo:{mark}"}, workers=1) as s:
        marked = "/w_90,wm_logo,fmt_jpeg/landscape.jpg"
        masked = "/w_90,mask_logo,fmt_png/landscape.jpg"
        plain = "/w_90,fmt_jpeg/landscape.jpg"
        for path in (marked, masked, plain):
            get(s, path)
            assert get(s, path).headers["x-cache"] == "HIT"
        result = purge(s, watermarks=["logo"])
        assert result["watermarks"] == ["logo"] and result["variants"] == 0
        (cdn,) = result["cdn"]
        assert cdn["ok"] is True and cdn["detail"]["objects"] == 2, cdn
        assert get(s, marked).headers["x-cache"] == "MISS"
        assert get(s, masked).headers["x-cache"] == "MISS"
        assert get(s, plain).headers["x-cache"] == "HIT"


def test_s21_varnish_refuses_purges_from_outside_its_acl(stack: Stack) -> None:
    # The same VCL with an ACL that does not list this host: our PURGE must be refused.
    with VarnishProcess(stack.origin.port, acl=["192.0.2.10"]) as other:
        path = "/w_90,fmt_jpeg/landscape.jpg"
        httpx.get(other.url(path))
        tags = httpx.get(stack.origin.url(path)).headers["surrogate-key"]
        refused = httpx.request("PURGE", other.url("/"), headers={"xkey": tags})
        assert refused.status_code == 403
        assert httpx.get(other.url(path)).headers["x-cache"] == "HIT"
    # And the shipped ACL (loopback) accepts it, which the purge test above relies on.
    allowed = httpx.request("PURGE", stack.varnish.url("/"), headers={"xkey": "s-none"})
    assert allowed.status_code == 200 and allowed.headers["x-purged"] == "0"


def test_r9_stale_while_revalidate_then_grace_with_the_origin_down() -> None:
    env = {"IMGORIGIN_CDN_MAX_AGE": "2", "IMGORIGIN_STALE_WHILE_REVALIDATE": "3",
           "IMGORIGIN_STALE_IF_ERROR": "3600"}
    with edge_stack(env, workers=1) as s:
        swr_path, grace_path = "/w_64,fmt_jpeg/landscape.jpg", "/w_72,fmt_jpeg/landscape.jpg"
        fresh = get(s, swr_path)
        assert fresh.headers["x-cache"] == "MISS"
        grace_copy = get(s, grace_path)

        # Past the 2 s edge TTL, inside stale-while-revalidate: served stale at once, and
        # Varnish refreshes it in the background.
        wait_until(lambda: False, 2.5)
        before = origin_transform_requests(s)
        stale = get(s, swr_path)
        assert stale.headers["x-cache"] == "HIT-STALE"
        assert stale.content == fresh.content
        assert wait_until(lambda: origin_transform_requests(s) == before + 1, 5)
        assert get(s, swr_path).headers["x-cache"] == "HIT"  # the refreshed copy

        # Past TTL + stale-while-revalidate, origin gone (killed at once: a graceful stop
        # answers on open connections for a second, which the probe would have had). Before
        # the probe notices, the failed foreground refresh falls back to the stale copy
        # (stale-if-error) ...
        wait_until(lambda: False, 3.5)
        s.origin.crash()
        assert s.varnish.backend_healthy()
        served = get(s, grace_path)
        assert (served.status_code, served.headers["x-cache"]) == (200, "HIT-STALE")
        assert served.content == grace_copy.content
        # ... and once the probe marks the origin sick, grace serves it without trying.
        assert wait_until(lambda: not s.varnish.backend_healthy(), 10), "probe never failed"
        served = get(s, grace_path)
        assert (served.status_code, served.headers["x-cache"]) == (200, "HIT-STALE")
        assert served.content == grace_copy.content
        # Nothing cached for this one: the origin really is gone.
        assert get(s, "/w_80,fmt_jpeg/landscape.jpg").status_code == 503


# Device ratios as browsers report them, and the step the origin rounds each up to.
DPR_SAMPLES = [("1", "1"), ("1.25", "1.5"), ("1.5", "1.5"), ("1.75", "2"), ("2", "2"),
               ("2.625", "3"), ("3", "3"), ("3.5", "4"), ("0.5", "1"), ("junk", "1"), ("", "1")]


def test_r16_client_hints_keep_one_object_per_step() -> None:
    """With IMGORIGIN_CLIENT_HINTS the origin answers `Vary: Sec-CH-DPR`; the VCL rounds the
    header to the origin's steps first, so ratios of one step share an object and each object
    has the size of its step."""
    with edge_stack({"IMGORIGIN_CLIENT_HINTS": "true"}, workers=1) as s:
        path = "/w_100,fmt_png/landscape.jpg"
        seen: dict[str, bytes] = {}
        for header, step in DPR_SAMPLES:
            headers = {"Sec-CH-DPR": header} if header else {}
            r = get(s, path, **headers)
            assert r.status_code == 200
            assert r.headers["x-cache"] == ("HIT" if step in seen else "MISS"), header
            assert MAGIC["image/png"](r.content)
            width = int.from_bytes(r.content[16:20], "big")  # the PNG's IHDR width
            assert width == round(100 * float(step)), header
            assert seen.setdefault(step, r.content) == r.content
        assert sorted(seen) == ["1", "1.5", "2", "3", "4"]
        # A URL that names its dpr does not vary: one object, whatever the device.
        fixed = "/w_100,dpr_2,fmt_png/landscape.jpg"
        assert get(s, fixed, **{"Sec-CH-DPR": "3"}).headers["x-cache"] == "MISS"
        assert get(s, fixed, **{"Sec-CH-DPR": "1"}).headers["x-cache"] == "HIT"


def test_the_origins_access_log_names_varnishs_transaction(stack: Stack) -> None:
    # A miss through Varnish gets one access-log line at the origin, under the id Varnish
    # gives its backend request (X-Varnish), so the two logs can be joined.
    path = "/w_96,fmt_png/landscape.jpg"
    assert get(stack, path).headers["x-cache"] == "MISS"

    def lines() -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(line) for line in stack.origin.log(tail=None).splitlines()
                if line.startswith("{") and f'"path":"{path}"' in line]

    # A line leaves through the worker's log thread, just after its answer.
    assert wait_until(lambda: len(lines()) >= 1, 5)
    assert len(lines()) == 1, lines()
    assert lines()[0]["tier"] == "transform" and lines()[0]["request_id"].isdigit()
    assert get(stack, path).headers["x-cache"] == "HIT"
    # The hit stayed at the edge: a later request's line arrives, and the path still has one.
    bad = "/w_96,nope_1/landscape.jpg"
    assert get(stack, bad).status_code == 400
    assert wait_until(lambda: f'"path":"{bad}"' in stack.origin.log(tail=None), 5)
    assert len(lines()) == 1
