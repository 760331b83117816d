"""R15: a purge empties the origin's own tiers before it asks the CDN to purge. The CDN's API
(a recorder standing for Fastly) asks the origin for the purged variant at the moment the purge
call reaches it, as an edge refill racing the purge would: the origin must transform afresh, not
hand back its cached copy for the edge to keep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.edge.recorder import Recorded, Recorder, Reply
from tests.security.support import AppServer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
TOKEN = "purge-token-r15"
VARIANT = "/w_120,fmt_webp/landscape.jpg"


@pytest.fixture
def api() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


def test_r15_origin_tiers_are_purged_before_the_cdn_is_asked(api: Recorder) -> None:
    env = {"IMGORIGIN_SOURCE": str(SAMPLES), "IMGORIGIN_PURGE_TOKENS": TOKEN,
           "IMGORIGIN_CDN_PURGERS": "fastly:SVC", "IMGORIGIN_FASTLY_API_TOKEN": "t",
           "IMGORIGIN_FASTLY_API_URL": api.base}
    with AppServer(env) as server:
        refills: list[str] = []

        def cdn(req: Recorded) -> Reply:
            # An edge refill that arrives while the CDN purges: what would the edge now keep?
            refill = httpx.get(server.base + VARIANT, timeout=10)
            refills.append(refill.headers["server-timing"].split(";")[0])
            return Reply.json(200, {k: "id" for k in req.json()["surrogate_keys"]})

        api.reset(cdn)
        assert server.get(VARIANT).headers["server-timing"].startswith("transform")
        assert server.get(VARIANT).headers["server-timing"].startswith("memory")
        answer = server.client.post("/-/purge", json={"sources": ["landscape.jpg"]},
                                    headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["cdn"][0]["ok"] is True
        assert len(api.requests) == 1
        # Memory and disk were already empty when the CDN was called: the refill recomputed.
        assert refills == ["transform"]
