"""A real Prometheus on a free loopback port, scraping one origin every second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.daemon import ForegroundServer
from tests.support.redis_server import require


class Prometheus(ForegroundServer):
    name = "prometheus"

    def __init__(self, target_port: int, rules: Path | None = None) -> None:
        super().__init__("imgorigin-prometheus-")
        self.target_port = target_port
        self.rules = rules

    def start(self) -> Prometheus:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(self.rules)] if self.rules else [],
            "scrape_configs": [{
                "job_name": "imgorigin",
                "metrics_path": "/-/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{self.target_port}"]}],
            }],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.spawn([require("prometheus"), f"--config.file={path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}"], timeout=60)
        return self

    def api(self, path: str) -> Any:
        answer = httpx.get(self.url("/api/v1/" + path), timeout=5).json()
        assert answer["status"] == "success", answer
        return answer["data"]

    def alerts(self) -> dict[str, dict[str, Any]]:
        return {a["labels"]["alertname"]: a for a in self.api("alerts")["alerts"]}
