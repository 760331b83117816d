"""S18: a hostile file must not take a worker down. libvips logs a warning for a JPEG with junk
before a marker; pyvips' Python log handler could be re-entered on the same thread while
handling it, which GLib treats as fatal (SIGABRT). Seen with the corpus' pillow_junk_jpeg_header
under concurrent requests; this builds the same kind of file, so it runs without the corpus."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.reliability.faults import photo
from tests.support.origin import OriginProcess


def _junk_before_a_marker(jpeg: bytes) -> bytes:
    """Five stray bytes before the first quantisation table: decodes, with a warning."""
    at = jpeg.index(b"\xff\xdb")
    return jpeg[:at] + b"\x00junk" + jpeg[at:]


async def _get_all(urls: list[str], concurrency: int) -> list[int | str]:
    """Status of each GET, `concurrency` at a time; the exception's name for a dropped one."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(url: str) -> int | str:
            async with gate:
                try:
                    return (await client.get(url)).status_code
                except httpx.HTTPError as exc:
                    return type(exc).__name__

        return await asyncio.gather(*(one(url) for url in urls))


def test_s18_concurrent_jpeg_warnings_do_not_abort_a_worker(tmp_path: Path) -> None:
    (tmp_path / "junk.jpg").write_bytes(_junk_before_a_marker(photo(1024, 768)))
    with OriginProcess({"IMGORIGIN_SOURCE": str(tmp_path)}, workers=2) as server:
        workers = sorted(server.worker_pids())
        # Before the fix, 300 requests aborted a worker in 2 runs of 4 and 900 in 4 of 4.
        urls = [server.url(f"/w_{100 + i}/junk.jpg") for i in range(900)]
        answers = asyncio.run(_get_all(urls, concurrency=8))
        assert sorted(server.worker_pids()) == workers, "a worker died and was replaced"
        log = server.log(tail=None)
        assert "SIGABRT" not in log and "(recursed)" not in log
    statuses = Counter(answers)
    # The server's answer to this damage (fail-on-error) is a 422; what matters is that every
    # request got an answer from the same two workers.
    assert set(statuses) == {422}, statuses
