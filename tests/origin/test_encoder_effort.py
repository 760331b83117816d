"""IMGORIGIN_WEBP_EFFORT and IMGORIGIN_AVIF_EFFORT: the encoders run at the configured effort, and
a host at another effort than the default keys its variants apart (other bytes, other ETags),
while the default's keys stay as they were."""

from __future__ import annotations

import httpx
import pytest

from origin.settings import Settings, SettingsError
from tests.support.origin import OriginProcess
from transforms import formats

WEBP = "/w_300,fmt_webp/landscape.jpg"
AVIF = "/w_200,fmt_avif/landscape.jpg"


def test_encoder_options_follow_the_configured_efforts() -> None:
    try:
        formats.configure(jpeg_optimize_coding=True, webp_effort=5, avif_effort=0)
        webp = formats.encoder_options("webp", quality=None, progressive=False, lossless=False,
                                       strip=True)
        avif = formats.encoder_options("avif", quality=None, progressive=False, lossless=False,
                                       strip=True)
        assert (webp[0], webp[1]["effort"]) == ("webpsave_buffer", 5)
        assert (avif[0], avif[1]["effort"]) == ("heifsave_buffer", 0)
    finally:
        formats.configure(jpeg_optimize_coding=True)
    assert formats.encoder_options("webp", quality=None, progressive=False, lossless=False,
                                   strip=True)[1]["effort"] == formats.WEBP_EFFORT == 2


@pytest.mark.parametrize(("name", "raw"), [("IMGORIGIN_WEBP_EFFORT", "7"),
                                           ("IMGORIGIN_AVIF_EFFORT", "10"),
                                           ("IMGORIGIN_AVIF_EFFORT", "-1"),
                                           ("IMGORIGIN_WEBP_EFFORT", "fast")])
def test_an_effort_out_of_range_is_refused_at_start(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_other_efforts_make_other_bytes_under_other_etags(origin: OriginProcess) -> None:
    default = {path: httpx.get(origin.url(path), timeout=60) for path in (WEBP, AVIF)}
    with OriginProcess({"IMGORIGIN_WEBP_EFFORT": "2", "IMGORIGIN_AVIF_EFFORT": "2"}) as same:
        explicit = {path: httpx.get(same.url(path), timeout=60) for path in (WEBP, AVIF)}
    with OriginProcess({"IMGORIGIN_WEBP_EFFORT": "4", "IMGORIGIN_AVIF_EFFORT": "0"}) as other:
        changed = {path: httpx.get(other.url(path), timeout=60) for path in (WEBP, AVIF)}
    for path in (WEBP, AVIF):
        assert default[path].status_code == explicit[path].status_code == 200
        assert changed[path].status_code == 200
        # The default, set or not, is one variant: same bytes, same ETag.
        assert explicit[path].content == default[path].content
        assert explicit[path].headers["etag"] == default[path].headers["etag"]
        assert changed[path].content != default[path].content
        assert changed[path].headers["etag"] != default[path].headers["etag"]
    # Effort 4 searches harder than 2: fewer bytes at the same quality setting.
    assert len(changed[WEBP].content) < len(default[WEBP].content)
