"""The settings parsers shared by several variables: one-of choices and NAME:VALUE lists."""

from __future__ import annotations

import pytest

from origin.settings import Settings, SettingsError


@pytest.mark.parametrize(("env", "attr", "value"), [
    ("IMGORIGIN_SVG", "svg_policy", "refuse"),
    ("IMGORIGIN_DEFAULT_FORMAT", "default_format", "auto"),
    ("IMGORIGIN_SIZE_LADDER_MODE", "size_ladder_mode", "refuse"),
    ("IMGORIGIN_FALLBACK_STATUS", "fallback_status", "200"),
])
def test_choices_take_any_case_and_refuse_the_rest(env: str, attr: str, value: str) -> None:
    assert getattr(Settings.from_env({env: f" {value.upper()} "}), attr) == value
    with pytest.raises(SettingsError, match=f"{env}: expected '.*' or '.*', got 'bogus'"):
        Settings.from_env({env: "bogus"})


def test_named_lists() -> None:
    settings = Settings.from_env({"IMGORIGIN_PRESETS": "thumb: s_64x64 ;hero:w_800,h_400;"})
    assert dict(settings.presets) == {"thumb": "s_64x64", "hero": "w_800,h_400"}
    for raw in ("thumb", "thumb:", ":w_10"):
        with pytest.raises(SettingsError, match="IMGORIGIN_PRESETS: expected NAME:TOKENS"):
            Settings.from_env({"IMGORIGIN_PRESETS": raw})
