"""What another server's URL dialect translates into (`transforms/imgproxy.py`,
`transforms/thumbor.py`): one native options segment and a source, checked by the native grammar."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Translated:
    """A foreign URL as this server's options segment and decoded source."""

    tokens: str  # a native options segment ("_" for none)
    source: str  # a key under the default source, or an absolute URL
    expires: int | None = None
