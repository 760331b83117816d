"""Revalidation: an If-None-Match naming the variant key is answered 304 before any tier read or
transform, with the 200's validators and cache headers; never for another variant or a changed
source."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.origin import REPO, OriginProcess

TOKEN = "revalidation-token"
WEBP = "image/webp,*/*"


def test_revalidating_an_unchanged_variant_runs_no_transform(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    source.write_bytes((REPO / "samples" / "landscape.jpg").read_bytes())
    env = {"IMGORIGIN_SOURCE": str(tmp_path), "IMGORIGIN_PURGE_TOKENS": TOKEN}
    with OriginProcess(env) as origin:
        path = "/w_120,fmt_auto/a.jpg"

        def get(accept: str = WEBP, **headers: str) -> httpx.Response:
            return httpx.get(origin.url(path), headers={"Accept": accept, **headers}, timeout=30)

        def transforms() -> float:
            return origin.metric("imgorigin_transforms_total")

        first = get()
        assert first.status_code == 200 and first.headers["content-type"] == "image/webp"
        etag = first.headers["etag"]
        # Empty every tier, so only the key can answer.
        purged = httpx.post(origin.url("/-/purge"), json={"sources": ["a.jpg"]},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert purged.status_code == 200 and purged.json()["variants"] >= 1

        before = transforms()
        unchanged = get(**{"If-None-Match": f'"other", {etag}'})
        assert unchanged.status_code == 304 and unchanged.content == b""
        for header in ("etag", "cache-control", "cdn-cache-control", "surrogate-key",
                       "cache-tag", "vary"):
            assert unchanged.headers[header] == first.headers[header], header
        assert unchanged.headers["server-timing"].startswith("none;dur=")
        assert "content-type" not in unchanged.headers
        assert transforms() == before

        # The 304 was right: made again, the variant has that ETag and those bytes.
        again = get()
        assert again.status_code == 200 and again.headers["server-timing"].startswith("transform")
        assert again.headers["etag"] == etag and again.content == first.content
        assert transforms() == before + 1

        # Another variant of the same URL (another Accept class) is not the one held.
        avif = get("image/avif,image/webp,*/*", **{"If-None-Match": etag})
        assert avif.status_code == 200 and avif.headers["content-type"] == "image/avif"

        # A changed source is never answered 304 for the old ETag.
        source.write_bytes((REPO / "samples" / "products" / "shoe.jpg").read_bytes())
        changed = get(**{"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
