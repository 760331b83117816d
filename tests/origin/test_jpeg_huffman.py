"""IMGORIGIN_JPEG_OPTIMIZE_CODING: optimised Huffman tables by default; standard ones (cheaper to
encode, a few percent more bytes) when off, keyed apart so the two never share an ETag."""

from __future__ import annotations

import httpx
import pyvips

from tests.support.origin import OriginProcess

PATH = "/w_400,fmt_jpeg/landscape.jpg"
# The code lengths of the JPEG standard's luminance DC table (ITU T.81, K.3), as a DHT holds them:
# libjpeg writes exactly these when it does not optimise.
STANDARD_LUMA_DC_BITS = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])


def test_standard_huffman_tables_when_off_and_keyed_apart(origin: OriginProcess) -> None:
    optimised = httpx.get(origin.url(PATH), timeout=30)
    with OriginProcess({"IMGORIGIN_JPEG_OPTIMIZE_CODING": "false"}) as plain_origin:
        plain = httpx.get(plain_origin.url(PATH), timeout=30)
    assert optimised.status_code == plain.status_code == 200
    for r in (optimised, plain):
        image = pyvips.Image.new_from_buffer(r.content, "")
        assert (image.get("vips-loader"), image.width) == ("jpegload_buffer", 400)
    assert STANDARD_LUMA_DC_BITS in plain.content
    assert STANDARD_LUMA_DC_BITS not in optimised.content
    assert len(plain.content) > len(optimised.content)
    assert plain.headers["etag"] != optimised.headers["etag"]
