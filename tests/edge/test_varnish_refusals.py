"""R12 behind a real varnishd: refusals that reach the origin over Varnish's pooled backend
connection are never held by the tarpit (origin/tarpit.py), because Varnish names each
request's client in X-Forwarded-For and loopback is a trusted proxy. With that trust taken away,
the same pooled connection looks like one client re-sending early, and its refusals are held,
which shows that the connection is reused and that the trust is what makes the difference."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.edge.stack import edge_stack


@pytest.mark.parametrize("trusted", [True, False], ids=["proxy-trusted", "proxy-untrusted"])
def test_r12_refusals_through_varnish_are_held_only_when_the_proxy_is_not_trusted(
    trusted: bool,
) -> None:
    env = {"IMGORIGIN_RATE_LIMIT": "1/m", "IMGORIGIN_RATE_LIMIT_BURST": "1",
           "IMGORIGIN_REFUSAL_HOLD": "0.8"}
    if not trusted:
        env["FORWARDED_ALLOW_IPS"] = "192.0.2.1"  # anything but Varnish's loopback address
    with edge_stack(env, workers=1) as stack, httpx.Client(timeout=30) as client:
        answers = []
        for width in range(120, 124):  # distinct misses: the first spends the budget
            started = time.perf_counter()
            r = client.get(stack.varnish.url(f"/w_{width}/landscape.jpg"))
            answers.append((r.status_code, time.perf_counter() - started))
        held = stack.origin.metric("imgorigin_refusals_held_total")
    assert [status for status, _ in answers] == [200, 429, 429, 429]
    refusals = [seconds for _, seconds in answers[1:]]
    if trusted:
        assert max(refusals) < 0.5 and held == 0
    else:
        assert refusals[0] < 0.5  # the first refusal on the connection goes out at once
        assert min(refusals[1:]) >= 0.75 and held == 2
