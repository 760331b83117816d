"""The README shows the two commands and a configuration table that matches the settings."""

from __future__ import annotations

from origin.cli import BEGIN, END
from origin.settings import settings_markdown
from tests.support.origin import REPO


def test_readme_starts_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    head = text[: text.index("## ")]
    assert "make run" in head and "make test" in head


def test_readme_settings_table_is_current() -> None:
    text = (REPO / "README.md").read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == settings_markdown(), "run `make readme` to regenerate the table"
