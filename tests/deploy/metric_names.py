"""What the server can export, read from its own metric objects: the names and labels that
deploy/prometheus and deploy/grafana may use."""

from __future__ import annotations

import importlib
import pkgutil

from prometheus_client.metrics import MetricWrapperBase

# Labels Prometheus itself adds to every series (job, instance) or to histogram buckets (le).
SCRAPE_LABELS = {"job", "instance", "le"}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series() -> dict[str, set[str]]:
    """Every sample name the server can export, with its metric's label names, read from the
    metric objects of every module of origin/, cache/ and transforms/."""
    series: dict[str, set[str]] = {}
    for package in ("origin", "cache", "transforms"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, MetricWrapperBase):
                    base = value._name.removesuffix("_total")
                    for suffix in _SUFFIXES[value._type]:
                        series[base + suffix] = set(value._labelnames)
    return series


