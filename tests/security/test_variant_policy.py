"""Bounding variants without signing: presets-only mode and the width/height ladder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from origin.errors import InvalidOptions
from origin.security.ladder import SizeLadder
from origin.service import TransformService
from origin.settings import Settings, SettingsError
from tests.security.support import AppServer, jpeg
from transforms.grammar import parse
from transforms.options import Options

PRESETS = "thumb:s_64x64,fmt_webp;hero:w_256,q_70"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("policy-src")
    (path / "a.jpg").write_bytes(jpeg(300, 200))
    return path


@pytest.fixture(scope="module")
def presets_only(root: Path) -> Iterator[AppServer]:
    with AppServer({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_PRESETS": PRESETS,
                    "IMGORIGIN_PRESETS_ONLY": "true"}) as app:
        yield app


@pytest.fixture(scope="module")
def snapping(root: Path) -> Iterator[AppServer]:
    with AppServer({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_SIZE_LADDER": "64,128,256"}) as app:
        yield app


@pytest.fixture(scope="module")
def refusing(root: Path) -> Iterator[AppServer]:
    with AppServer({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_SIZE_LADDER": "64,128,256",
                    "IMGORIGIN_SIZE_LADDER_MODE": "refuse"}) as app:
        yield app


def test_presets_only_serves_presets(presets_only: AppServer) -> None:
    r = presets_only.get("/p_thumb/a.jpg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp"
    assert presets_only.get("/preset_hero/a.jpg").status_code == 200
    # `_` (the source re-encoded, one variant per source) stays available.
    assert presets_only.get("/_/a.jpg").status_code == 200


@pytest.mark.parametrize(("segment", "token"), [
    ("w_100", "w_100"), ("p_thumb,q_90", "q_90"), ("q_90,p_thumb", "q_90"),
    ("fmt_png", "fmt_png"), ("p_nope", "nope"),
])
def test_presets_only_refuses_everything_else(presets_only: AppServer, segment: str,
                                              token: str) -> None:
    r = presets_only.get(f"/{segment}/a.jpg")
    assert r.status_code == 400, r.text
    assert token in r.json()["detail"]


def test_presets_only_allows_expiry_with_a_preset() -> None:
    parsed = parse("p_thumb,exp_1900000000", presets={"thumb": "w_10"}, presets_only=True)
    assert parsed.options.width == 10 and parsed.expires == 1900000000
    with pytest.raises(InvalidOptions):
        parse("exp_1900000000", presets={"thumb": "w_10"}, presets_only=True)


def test_ladder_snaps_up_and_shares_variants(snapping: AppServer) -> None:
    import pyvips

    a = snapping.get("/w_100/a.jpg")
    b = snapping.get("/w_128/a.jpg")
    assert a.status_code == b.status_code == 200
    assert a.headers["etag"] == b.headers["etag"]
    assert pyvips.Image.new_from_buffer(a.content, "").width == 128
    # Above the top step: the top step.
    top = snapping.get("/w_280/a.jpg")
    assert top.headers["etag"] == snapping.get("/w_256/a.jpg").headers["etag"]
    # Each dimension is snapped on its own.
    box = snapping.get("/w_65,h_65/a.jpg")
    image = pyvips.Image.new_from_buffer(box.content, "")
    assert (image.width, image.height) == (128, 128)


def test_ladder_refuse_mode(refusing: AppServer) -> None:
    r = refusing.get("/w_100/a.jpg")
    assert r.status_code == 400 and "w_100" in r.json()["detail"]
    r = refusing.get("/w_128,h_99/a.jpg")
    assert r.status_code == 400 and "h_99" in r.json()["detail"]
    assert refusing.get("/w_128,h_64/a.jpg").status_code == 200
    assert refusing.get("/s_64x256/a.jpg").status_code == 200


def test_ladder_unit() -> None:
    ladder = SizeLadder((64, 128, 256))
    assert ladder.apply(Options(width=1)).width == 64
    assert ladder.apply(Options(width=64)).width == 64
    assert ladder.apply(Options(width=65, height=None)) == Options(width=128)
    assert ladder.apply(Options(height=9999)).height == 256
    assert SizeLadder().apply(Options(width=77)).width == 77
    with pytest.raises(InvalidOptions, match="h_65"):
        SizeLadder((64, 128), "refuse").apply(Options(height=65))


def test_ladder_and_presets_are_checked_at_startup(root: Path) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"IMGORIGIN_SIZE_LADDER": "64,99999"})
    with pytest.raises(SettingsError):
        Settings.from_env({"IMGORIGIN_SIZE_LADDER_MODE": "round"})
    with pytest.raises(SettingsError):
        Settings.from_env({"IMGORIGIN_SIZE_LADDER": "64,-1"})
    # A preset off the ladder (refuse mode) or a broken preset stops the worker at startup.
    for env in ({"IMGORIGIN_PRESETS": "a:w_100", "IMGORIGIN_SIZE_LADDER": "64",
                 "IMGORIGIN_SIZE_LADDER_MODE": "refuse"},
                {"IMGORIGIN_PRESETS": "a:w_0400"}, {"IMGORIGIN_PRESETS": "a:p_b"}):
        settings = Settings.from_env({"IMGORIGIN_SOURCE": str(root), **env})
        with pytest.raises(SettingsError, match="preset 'a'"):
            TransformService(settings, None, None, None, None)  # type: ignore[arg-type]
