"""What the server can export, read from its own metric objects: the names and labels that
deploy/prometheus and deploy/grafana may use."""

from __future__ import annotations

import importlib
import pkgutil
import re

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


def unknown_names(expr: str, exported: dict[str, set[str]]) -> list[str]:
    """What a PromQL expression names that the server does not export: metrics, label matchers
    on a metric without that label, and `by (...)` labels none of its metrics has."""
    names = set(re.findall(r"\bimgorigin_[a-z_]+", expr))
    problems = [f"metric {n}" for n in sorted(names - exported.keys())]
    known = names & exported.keys()
    labels = set().union(*(exported[n] for n in known)) | SCRAPE_LABELS
    for name, matchers in re.findall(r"\b(imgorigin_[a-z_]+)\{([^}]*)\}", expr):
        used = set(re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", matchers))
        problems += [f"label {name}{{{label}}}" for label in
                     sorted(used - exported.get(name, set()) - SCRAPE_LABELS)]
    for grouping in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        problems += [f"by ({label})" for label in
                     sorted({label.strip() for label in grouping.split(",")} - labels)]
    return problems
