"""Read Prometheus text exposition in tests."""

from __future__ import annotations


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, brace, rest = head.partition("{")
        labels: list[tuple[str, str]] = []
        if brace:
            for part in rest.rstrip("}").split(","):
                if "=" in part:
                    k, _, v = part.partition("=")
                    labels.append((k.strip(), v.strip().strip('"')))
        values[(name, frozenset(labels))] = float(value)
    return values


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of `name` over every series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in parse_metrics(text).items() if n == name and want <= ls)
