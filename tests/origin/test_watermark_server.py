"""Watermarks through a real server: configured by file, keyed by the file's bytes, refused at
startup when a file is unusable, 400 for names the server does not have."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import pyvips

from origin.settings import Settings, SettingsError
from tests.support.origin import OriginProcess

PATH = "/w_200,wm_logo,fmt_png/photo.png"


def _solid(path: Path, width: int, height: int, colour: list[int]) -> None:
    (pyvips.Image.black(width, height) + colour).cast("uchar").copy(
        interpretation="srgb").pngsave(str(path))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    _solid(tmp_path / "src" / "photo.png", 400, 200, [0, 0, 255])
    _solid(tmp_path / "logo.png", 40, 20, [255, 0, 0, 255])
    return tmp_path


def _env(site: Path) -> dict[str, str]:
    return {"IMGORIGIN_SOURCE": str(site / "src"),
            "IMGORIGIN_WATERMARKS": f"logo:{site / 'logo.png'}"}


def _corner(body: bytes) -> list[float]:
    return pyvips.Image.new_from_buffer(body, "").getpoint(195, 95)[:3]


def test_a_new_watermark_file_makes_new_variants(site: Path) -> None:
    cache = str(site / "cache")
    with OriginProcess(_env(site), cache_dir=cache) as origin:
        marked = httpx.get(origin.url(PATH), timeout=30)
        assert marked.status_code == 200, marked.text
        assert _corner(marked.content) == [255, 0, 0]
        plain = httpx.get(origin.url("/w_200,fmt_png/photo.png"), timeout=30)
        assert _corner(plain.content) == [0, 0, 255]
        assert plain.headers["etag"] != marked.headers["etag"]
        # Tagged with the source and with the watermark, which a purge can name.
        assert marked.headers["surrogate-key"].startswith(plain.headers["surrogate-key"] + " w-")
        assert plain.headers["surrogate-key"].count(" w-") == 0
        unknown = httpx.get(origin.url("/w_200,wm_other/photo.png"), timeout=30)
        assert unknown.status_code == 400
        assert "unknown watermark 'other'" in unknown.json()["detail"]

    # The same cache, a new logo: the old variant is never served for it.
    _solid(site / "logo.png", 40, 20, [0, 255, 0, 255])
    with OriginProcess(_env(site), cache_dir=cache) as origin:
        again = httpx.get(origin.url(PATH), timeout=30)
        assert again.headers["server-timing"].startswith("transform")
        assert again.headers["etag"] != marked.headers["etag"]
        assert _corner(again.content) == [0, 255, 0]


def test_a_mask_is_keyed_and_tagged_by_its_file(site: Path) -> None:
    """`mask_logo` shows the source where the logo is light: a new file makes new variants, and
    the answers carry the file's tag for a purge by watermark."""
    cache = str(site / "cache")
    path = "/w_200,mask_logo,fmt_png/photo.png"
    _solid(site / "logo.png", 40, 20, [255, 255, 255])
    with OriginProcess(_env(site), cache_dir=cache) as origin:
        shown = httpx.get(origin.url(path), timeout=30)
        assert shown.status_code == 200, shown.text
        assert pyvips.Image.new_from_buffer(shown.content, "").getpoint(100, 50)[3] == 255
        plain = httpx.get(origin.url("/w_200,fmt_png/photo.png"), timeout=30)
        assert shown.headers["surrogate-key"].startswith(plain.headers["surrogate-key"] + " w-")
        unknown = httpx.get(origin.url("/mask_other/photo.png"), timeout=30)
        assert unknown.status_code == 400 and "unknown mask image" in unknown.json()["detail"]
    _solid(site / "logo.png", 40, 20, [0, 0, 0])
    with OriginProcess(_env(site), cache_dir=cache) as origin:
        hidden = httpx.get(origin.url(path), timeout=30)
        assert hidden.headers["server-timing"].startswith("transform")
        assert hidden.headers["etag"] != shown.headers["etag"]
        assert pyvips.Image.new_from_buffer(hidden.content, "").getpoint(100, 50)[3] == 0


def test_a_server_without_watermarks_refuses_wm(site: Path) -> None:
    with OriginProcess({"IMGORIGIN_SOURCE": str(site / "src")}) as origin:
        answer = httpx.get(origin.url(PATH), timeout=30)
        assert answer.status_code == 400 and "unknown watermark" in answer.json()["detail"]


def test_an_unusable_watermark_file_stops_the_worker_at_startup(site: Path) -> None:
    (site / "logo.png").write_bytes(b"not a png")
    with pytest.raises(RuntimeError, match="IMGORIGIN_WATERMARKS: watermark 'logo'"):
        OriginProcess(_env(site)).start(timeout=20)


@pytest.mark.parametrize("raw", ["logo", "Logo:/a.png", "logo:", ":/a.png", "a b:/x.png"])
def test_malformed_watermark_settings_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="IMGORIGIN_WATERMARKS"):
        Settings.from_env({"IMGORIGIN_WATERMARKS": raw})


def test_watermark_settings_parse() -> None:
    settings = Settings.from_env({"IMGORIGIN_WATERMARKS": "logo:/etc/a.png; stamp-2:/b:c.png;"})
    assert dict(settings.watermarks) == {"logo": "/etc/a.png", "stamp-2": "/b:c.png"}
