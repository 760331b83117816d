"""S18: trim computes over the decoded pixels before the encoder does, so damage that the decode
meets there must be the same 422 as anywhere else, never a 500 (found by a stress sweep of the
corpus: a truncated JPEG with `trim_10` answered 500 with a traceback)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.reliability.faults import photo
from tests.support.origin import OriginProcess


def test_s18_trim_of_a_truncated_jpeg_is_a_422(tmp_path: Path) -> None:
    jpeg = photo(640, 480)
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    with OriginProcess({"IMGORIGIN_SOURCE": str(tmp_path)}) as server:
        for options in ("trim_10", "w_100,trim_10", "trim_10,fmt_png"):
            r = httpx.get(server.url(f"/{options}/cut.jpg"), timeout=30)
            assert r.status_code == 422, (options, r.text)
            assert r.json()["error"] == "unprocessable_image"
        assert "Traceback" not in server.log(tail=None)
