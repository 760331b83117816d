"""Fault injection on top of the fake upstream: the same URLs made slow, failing or reset."""

from __future__ import annotations

import asyncio
from typing import Any

import pyvips

from tests.support.upstream import Upstream


class FaultyUpstream(Upstream):
    """`/files/NAME` as usual, unless a fault is switched on:
    `delay` seconds before every answer, `status[NAME]` (or `status_all`) answered instead,
    `reset` drops every connection without an answer."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.status: dict[str, int] = {}
        self.status_all = 0
        self.reset = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/files/"):
            await super().__call__(scope, receive, send)
            return
        name = scope["path"].removeprefix("/files/")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reset:
            self.hits[scope["path"]] += 1
            raise RuntimeError("simulated reset")  # uvicorn drops the connection
        status = self.status.get(name) or self.status_all
        if status:
            self.hits[scope["path"]] += 1
            await self._send(send, status, b"")
            return
        await super().__call__(scope, receive, send)


def photo(width: int, height: int, fmt: str = "jpeg") -> bytes:
    """A noisy, photo-like test image (noise keeps encoders honest about cost)."""
    noise = pyvips.Image.gaussnoise(width, height, sigma=40, mean=128)
    xyz = pyvips.Image.xyz(width, height)
    image = noise.bandjoin([xyz[0] % 256, xyz[1] % 256]).cast("uchar")
    image = image.copy(interpretation="srgb").gaussblur(1.5)
    kwargs = {"Q": 85} if fmt in ("jpeg", "webp") else {}
    return bytes(getattr(image, f"{fmt}save_buffer")(**kwargs))
