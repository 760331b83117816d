"""A real browser through the edge: headless Chromium loads samples/index.html through Varnish
(origin behind it), every <img> must decode, in the format Chromium's own Accept selects."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.edge.browser import Page, chromium
from tests.edge.stack import Stack, edge_stack
from tests.support.origin import REPO, OriginProcess

IMAGES_JS = """
Promise.all([...document.images].map(img => img.decode().then(() => true, () => false)))
  .then(decoded => [...document.images].map((img, i) => ({
      id: img.id, decoded: decoded[i], complete: img.complete,
      width: img.naturalWidth, height: img.naturalHeight, src: img.currentSrc})))
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with edge_stack() as s:
        yield s


def image_exchanges(page: Page) -> dict[str, dict[str, Any]]:
    """url -> {accept, sec_ch_dpr, mime, status, x_cache, vary} for every image the page
    fetched, from DevTools events (the request headers Chromium really sent are in ExtraInfo)."""
    sent: dict[str, dict[str, str]] = {}
    for event in page.events:
        params = event["params"]
        if event["method"] == "Network.requestWillBeSentExtraInfo":
            headers = {k.lower(): v for k, v in params["headers"].items()}
            if "accept" in headers:
                sent[params["requestId"]] = headers
    out: dict[str, dict[str, Any]] = {}
    for event in page.events:
        params = event["params"]
        if event["method"] == "Network.responseReceived" and params["type"] == "Image":
            response = params["response"]
            headers = {k.lower(): v for k, v in response["headers"].items()}
            request = sent.get(params["requestId"], {})
            out[response["url"]] = {"accept": request.get("accept", ""),
                                    "sec_ch_dpr": request.get("sec-ch-dpr", ""),
                                    "mime": response["mimeType"], "status": response["status"],
                                    "x_cache": headers.get("x-cache", ""),
                                    "vary": headers.get("vary", "")}
    return out


def test_demo_page_in_chromium_through_varnish(stack: Stack, output_dir: Path) -> None:
    async def run() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
        async with chromium() as page:
            await page.navigate(stack.varnish.url("/index.html"))
            images = await page.evaluate(IMAGES_JS)
            first = image_exchanges(page)
            await page.screenshot(output_dir / "demo.png")
            # A second visit with the browser cache off: every image now comes from Varnish.
            await page.send("Network.setCacheDisabled", cacheDisabled=True)
            page.events.clear()
            await page.navigate(stack.varnish.url("/index.html"))
            await page.evaluate(IMAGES_JS)
            again = [e["x_cache"] for e in image_exchanges(page).values()]
            return images, first, again

    images, exchanges, second_visit = asyncio.run(run())
    assert {img["id"] for img in images} == {"landscape", "shoe", "logo", "spinner", "avatar",
                                             "tinted", "auto-quality"}
    for img in images:
        assert img["decoded"] and img["complete"] and img["width"] > 0, img
    # 1280 px viewport, sizes=928px at DPR 1: the 1200w candidate.
    landscape = next(img for img in images if img["id"] == "landscape")
    assert landscape["src"].endswith("/w_1200,fmt_auto/landscape.jpg")
    # naturalWidth is density-corrected for a w-descriptor: 1200 px shown at 928 CSS px.
    assert landscape["width"] == 928

    for img in images:
        exchange = exchanges[img["src"]]
        assert exchange["status"] == 200 and exchange["x_cache"] == "MISS", exchange
        accept = exchange["accept"]
        assert "image/avif" in accept, accept  # this Chromium asks for AVIF first
        # The format Chromium got is the one the origin negotiates for Chromium's own Accept.
        path = img["src"].removeprefix(stack.varnish.base)
        direct = httpx.get(stack.origin.url(path), headers={"Accept": accept}, timeout=30)
        assert exchange["mime"] == direct.headers["content-type"], (img["id"], exchange)
    for still in ("landscape", "shoe", "logo", "avatar", "tinted", "auto-quality"):
        src = next(img["src"] for img in images if img["id"] == still)
        assert exchanges[src]["mime"] == "image/avif", (still, exchanges[src])
    assert second_visit and all(x == "HIT" for x in second_visit), second_visit
    assert (output_dir / "demo.png").stat().st_size > 10_000


FALLBACK_JS = """
new Promise(done => {
  const img = new Image();
  img.onload = () => done({width: img.naturalWidth, height: img.naturalHeight});
  img.onerror = () => done(null);
  img.src = PATH;
})
"""


@pytest.mark.parametrize("status_setting", ["error", "200"])
def test_chromium_draws_the_fallback_image_of_a_missing_source(tmp_path: Path,
                                                                status_setting: str) -> None:
    """IMGORIGIN_FALLBACK_STATUS=error (the default) sends the placeholder with the 404: the
    choice holds only if a browser draws an image body that comes with a 404, so ask one."""
    fallback = tmp_path / "fallback.png"
    fallback.write_bytes((REPO / "samples" / "logo.png").read_bytes())
    env = {"IMGORIGIN_SOURCE": str(REPO / "samples"), "IMGORIGIN_FALLBACK_IMAGE": str(fallback),
           "IMGORIGIN_FALLBACK_STATUS": status_setting}
    path = "/w_120,h_60,fit_fill,fmt_auto/missing.jpg"

    async def run() -> Any:
        async with chromium() as page:
            await page.navigate(origin.url("/index.html"))
            return await page.evaluate(FALLBACK_JS.replace("PATH", repr(path)))

    with OriginProcess(env) as origin:
        direct = httpx.get(origin.url(path), timeout=30)
        assert direct.status_code == (404 if status_setting == "error" else 200)
        assert direct.headers["imgorigin-fallback"] == "not_found"
        drawn = asyncio.run(run())
    assert drawn == {"width": 120, "height": 60}


def test_client_hints_from_chromium_through_varnish() -> None:
    """IMGORIGIN_CLIENT_HINTS end to end: the demo page asks for Sec-CH-DPR, a Chromium with a
    2x screen sends it with its image requests, Varnish rounds it and keeps one object per step,
    and the image without `dpr` in its URL comes at twice its CSS size; a 1x screen gets its own
    object at 1x. URLs that name `dpr` (the shoe's srcset) are the same for both."""
    async def load(scale: float) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        async with chromium(scale=scale) as page:
            await page.navigate(s.varnish.url("/index.html"))
            images = await page.evaluate(IMAGES_JS)
            return images, image_exchanges(page)

    # At 2x the page's landscape is a 1600 px AVIF; no wait bound, so nothing is shed behind it.
    with edge_stack({"IMGORIGIN_CLIENT_HINTS": "true", "IMGORIGIN_MAX_QUEUE_WAIT": "0"}) as s:
        retina, retina_seen = asyncio.run(load(2))
        plain, plain_seen = asyncio.run(load(1))
    spinner = {img["id"]: img for img in retina}["spinner"]
    assert spinner["src"].endswith("/w_64,fmt_auto/spinner.gif")
    exchange = retina_seen[spinner["src"]]
    assert exchange["sec_ch_dpr"] == "2", exchange
    assert exchange["x_cache"] == "MISS" and "Sec-CH-DPR" in exchange["vary"], exchange
    assert spinner["width"] == 128  # 64 CSS px at 2x, drawn in the 64 px box the page gives it
    one = {img["id"]: img for img in plain}["spinner"]
    assert one["width"] == 64
    assert plain_seen[one["src"]]["sec_ch_dpr"] == "1"
    assert plain_seen[one["src"]]["x_cache"] == "MISS"  # another step: another object
    # The shoe's 2x candidate names dpr_2: the hint does not change it, nor does it vary.
    shoe = {img["id"]: img for img in retina}["shoe"]
    assert "dpr_2" in shoe["src"] and "Sec-CH-DPR" not in retina_seen[shoe["src"]]["vary"]


def test_a_2x_screen_gets_every_image_of_the_demo_page_on_default_settings() -> None:
    """`make run`'s server (two workers, default settings) and a 2x screen's first visit: the
    page's 1600 px AVIF takes a thread for most of a second, and the small images queued behind
    it must be made, not refused (the wait bound counts queued work, not what is left of the
    running job; three runs of this before that change lost two of four images in two). The
    page's `q_auto` image costs several encodes, and `r_max` an alpha AVIF, on top."""
    async def load() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        async with chromium(scale=2) as page:
            await page.navigate(origin.url("/index.html"))
            images = await page.evaluate(IMAGES_JS)
            return images, image_exchanges(page)

    with OriginProcess({"IMGORIGIN_SOURCE": str(REPO / "samples")}, workers=2) as origin:
        images, exchanges = asyncio.run(load())
    assert len(images) == 7
    for img in images:
        assert exchanges[img["src"]]["status"] == 200, (img["src"], exchanges[img["src"]])
        assert img["decoded"] and img["width"] > 0, img
    landscape = next(img for img in images if img["id"] == "landscape")
    assert landscape["src"].endswith("/w_1600,fmt_auto/landscape.jpg")
