"""deploy/prometheus: the alerting rules are valid, pass their promtool unit tests, name only
metrics and labels the server exports, and fire in a real Prometheus scraping a real origin."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.metric_names import exported_series, unknown_names
from tests.deploy.prometheus import Prometheus
from tests.support.net import free_port, wait_until
from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import require
from tests.support.upstream import Upstream

RULES_DIR = REPO / "deploy" / "prometheus"
RULES = RULES_DIR / "imgorigin-alerts.yml"
RULE_TESTS = RULES_DIR / "imgorigin-alerts.test.yml"
PURGE_TOKEN = "prometheus-test-token"


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check() -> None:
    promtool = require("promtool")
    run = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in run.stdout


def test_rules_pass_their_unit_tests() -> None:
    promtool = require("promtool")
    run = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULES_DIR,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_a_firing_unit_test() -> None:
    firing: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            if check["exp_alerts"]:
                firing.add(check["alertname"])
    assert {rule["alert"] for rule in alert_rules()} == firing


def test_the_name_check_finds_what_the_server_does_not_export() -> None:
    expr = ('sum by (tier, colour) (rate(imgorigin_requests_total{route="transform", shade="x"}'
            '[5m])) + imgorigin_nope')
    assert unknown_names(expr, exported_series()) == [
        "metric imgorigin_nope", "label imgorigin_requests_total{shade}", "by (colour)"]


def test_rules_name_only_exported_metrics_and_labels() -> None:
    exported = exported_series()
    assert "imgorigin_requests_total" in exported and "imgorigin_cache_breaker_open" in exported
    for rule in alert_rules():
        expr = rule["expr"]
        names = set(re.findall(r"\bimgorigin_[a-z_]+", expr))
        if not names:  # only Prometheus' own `up` of the job
            assert re.fullmatch(r'up\{job="imgorigin"\} == 0', expr.strip()), rule["alert"]
            continue
        assert not unknown_names(expr, exported), (rule["alert"], unknown_names(expr, exported))


@pytest.fixture
def failing_origin(upstream: Upstream) -> Iterator[OriginProcess]:
    """An origin whose source answers 500 and whose one CDN (a Varnish) is not listening."""
    dead = free_port()
    env = {
        "IMGORIGIN_SOURCE": upstream.base + "/status/500/",
        "IMGORIGIN_PURGE_TOKENS": PURGE_TOKEN,
        "IMGORIGIN_CDN_PURGERS": f"varnish:http://127.0.0.1:{dead}",
        "IMGORIGIN_CDN_PURGE_ATTEMPTS": "2",
        "IMGORIGIN_CDN_PURGE_BACKOFF": "0.05",
    }
    with OriginProcess(env) as origin:
        yield origin


def test_alerts_fire_in_a_real_prometheus_scraping_a_real_origin(
        failing_origin: OriginProcess) -> None:
    prometheus = Prometheus(failing_origin.port, RULES).start()
    try:
        def scraped() -> bool:
            return [t["health"] for t in prometheus.api("targets")["activeTargets"]] == ["up"]

        assert wait_until(scraped, 30, interval=0.2), prometheus.log()
        # One failed purge, after the first scrape: it alerts only if the host exported its
        # failure counter at 0 before (origin.metrics.export_alerted_series).
        r = httpx.post(failing_origin.url("/-/purge"), json={"sources": ["photo-1.jpg"]},
                       headers={"Authorization": f"Bearer {PURGE_TOKEN}"}, timeout=30)
        assert r.status_code == 200 and not r.json()["cdn"][0]["ok"], r.text

        expected = {"ImgoriginUpstreamFailing": "pending", "ImgoriginCdnPurgeFailed": "firing"}
        sent = 0

        def raised() -> bool:
            nonlocal sent
            for _ in range(2):  # a source that keeps failing
                r = httpx.get(failing_origin.url(f"/w_50/photo-{sent}.jpg"), timeout=30)
                assert r.status_code == 502, r.text
                sent += 1
            alerts = prometheus.alerts()
            return all(alerts.get(name, {}).get("state") == state
                       for name, state in expected.items())

        assert wait_until(raised, 60, interval=0.5), (prometheus.alerts(), prometheus.log())
        alerts = prometheus.alerts()
        assert alerts["ImgoriginCdnPurgeFailed"]["labels"]["cdn"] == "varnish"
        assert alerts["ImgoriginUpstreamFailing"]["labels"]["job"] == "imgorigin"
        # The host answers its scrapes and sheds nothing: those stay quiet.
        assert not {"ImgoriginDown", "ImgoriginShedding", "ImgoriginInternalErrors"} & set(alerts)

        targets = prometheus.api("targets")["activeTargets"]
        assert [t["health"] for t in targets] == ["up"], targets
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        assert len(rules) == len(alert_rules())
        assert all(rule["health"] == "ok" for rule in rules), rules
    finally:
        prometheus.stop()
