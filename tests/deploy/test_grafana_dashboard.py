"""deploy/grafana/imgorigin.json: every panel queries metrics and labels the server exports, and
every query runs in a real Prometheus scraping a real origin, the traffic panels with data."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from tests.deploy.metric_names import exported_series, unknown_names
from tests.deploy.prometheus import Prometheus
from tests.support.net import wait_until
from tests.support.origin import REPO, OriginProcess

DASHBOARD = REPO / "deploy" / "grafana" / "imgorigin.json"
# Grafana's variables, as Grafana would fill them for a short range over every host.
VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}
# Panels that must show data after a few image requests.
WITH_DATA = ("Image requests by tier", "Answers by status", "Transforms by format",
             "Origin hit ratio")


def queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel["targets"]]


def filled(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, expr
    return expr


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "imgorigin"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "instance"}
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]


def test_panels_name_only_exported_metrics_and_labels() -> None:
    exported = exported_series()
    for title, expr in queries():
        assert re.search(r"\bimgorigin_[a-z_]+", expr), title
        assert not unknown_names(expr, exported), (title, unknown_names(expr, exported))


def test_every_panel_query_runs_in_a_real_prometheus() -> None:
    env = {"IMGORIGIN_SOURCE": str(REPO / "samples")}
    with OriginProcess(env) as origin:
        prometheus = Prometheus(origin.port).start()
        try:
            def up() -> bool:
                targets = prometheus.api("targets")["activeTargets"]
                return [t["health"] for t in targets] == ["up"]

            assert wait_until(up, 30, interval=0.2), prometheus.log()
            # Traffic over a few scrapes: misses (transforms) and hits.
            deadline = time.monotonic() + 4
            width = 60
            while time.monotonic() < deadline:
                path = f"/w_{width},fmt_webp/landscape.jpg"
                for _ in range(3):
                    assert httpx.get(origin.url(path), timeout=30).status_code == 200
                width += 1
                time.sleep(0.3)

            def results(expr: str) -> list[Any]:
                data = prometheus.api(f"query?{httpx.QueryParams(query=filled(expr))}")
                assert data["resultType"] == "vector", (expr, data)
                return list(data["result"])

            assert wait_until(lambda: all(results(e) for t, e in queries() if t in WITH_DATA),
                              15, interval=0.5), prometheus.log()
            for _title, expr in queries():
                results(expr)  # a query Prometheus refuses fails in api()
            by_tier = {r["metric"]["tier"]
                       for t, e in queries() if t == "Image requests by tier"
                       for r in results(e)}
            assert {"transform", "memory"} <= by_tier
        finally:
            prometheus.stop()
