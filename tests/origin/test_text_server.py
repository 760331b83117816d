"""Who may draw text (`IMGORIGIN_TEXT_OVERLAYS`): by default only signed URLs (the site's own)
and presets, as anyone could otherwise caption the site's images from their own page; `on` opens
it to every URL (Cloudinary's `l_text:` included), `off` closes it to URLs."""

from __future__ import annotations

import httpx
import pytest
import pyvips

from origin.errors import InvalidOptions
from origin.security.signing import sign
from tests.support.origin import REPO, OriginProcess
from transforms import parse
from transforms.grammar import text_token

KEY = "00112233445566778899aabbccddeeff"
CAPTION = "text_" + text_token("Sale") + ":center:40:ff0000"
SAMPLES = str(REPO / "samples")


def reddened(body: bytes) -> bool:
    image = pyvips.Image.new_from_buffer(body, "")
    return bool(((image[0] - image[1]) > 150).max() > 0)


def test_by_default_unsigned_urls_draw_no_text_but_presets_may() -> None:
    env = {"IMGORIGIN_SOURCE": SAMPLES, "IMGORIGIN_PRESETS": f"sale:{CAPTION}",
           "IMGORIGIN_CLOUDINARY_PREFIX": "demo"}
    with OriginProcess(env) as origin:
        refused = httpx.get(origin.url(f"/w_200,{CAPTION},fmt_png/landscape.jpg"), timeout=30)
        assert refused.status_code == 400 and "IMGORIGIN_TEXT_OVERLAYS" in refused.text
        cloudinary = httpx.get(origin.url("/demo/image/upload/l_text:Arial_40:Sale/landscape.jpg"),
                               timeout=30)
        assert cloudinary.status_code == 400
        preset = httpx.get(origin.url("/w_200,p_sale,fmt_png/landscape.jpg"), timeout=30)
        assert preset.status_code == 200 and reddened(preset.content)


def test_signed_urls_draw_text() -> None:
    with OriginProcess({"IMGORIGIN_SOURCE": SAMPLES, "IMGORIGIN_SIGNING_KEYS": KEY}) as origin:
        path = f"/w_200,{CAPTION},fmt_png/landscape.jpg"
        r = httpx.get(origin.url("/" + sign(path, KEY) + path), timeout=30)
        assert r.status_code == 200 and reddened(r.content)


@pytest.mark.parametrize(("setting", "status"), [("on", 200), ("off", 400)])
def test_on_and_off(setting: str, status: int) -> None:
    env = {"IMGORIGIN_SOURCE": SAMPLES, "IMGORIGIN_TEXT_OVERLAYS": setting,
           "IMGORIGIN_SIGNING_KEYS": KEY}
    with OriginProcess(env) as origin:
        path = f"/w_200,{CAPTION},fmt_png/landscape.jpg"
        r = httpx.get(origin.url("/" + sign(path, KEY) + path), timeout=30)
        assert r.status_code == status, r.text


def test_the_grammar_refuses_a_urls_own_text_only() -> None:
    with pytest.raises(InvalidOptions, match="IMGORIGIN_TEXT_OVERLAYS"):
        parse(f"w_10,{CAPTION}", text=False)
    assert parse("p_sale", presets={"sale": CAPTION}, text=False).options.text is not None
