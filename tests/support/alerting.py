"""A real Prometheus (club_devstack.prometheus) on the chart's rules, for the alerts' end to end tests:
started over a stack with the operator as a static target, the rules with their `for` cut short,
and what its API answers about a series or an alert.

Cutting `for` keeps every expression as the chart ships it: how long each alert waits is what
promtool's rule tests check (tests/monitoring); an end to end test shows that the expression fires
on the series the stack really has, and clears."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from club_devstack import prometheus
from club_devstack.procs import Process

HURRIED_FOR = "20s"


def hurried_rules(root: Path) -> Path:
    """The chart's rules with every `for` cut to HURRIED_FOR, the expressions as they are."""
    groups = yaml.safe_load(prometheus.RULES.read_text())
    for group in groups["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = HURRIED_FOR
    root.mkdir(parents=True, exist_ok=True)
    hurried = root / "prometheus-rules-hurried.yaml"
    hurried.write_text(yaml.safe_dump(groups, sort_keys=False))
    return hurried


def start(
    kubeconfig: Path,
    operator_port: int,
    root: Path,
    procs: list[Process],
    extra: Sequence[dict[str, Any]] = (),
    rules: Path = prometheus.RULES,
) -> prometheus.PrometheusInfo:
    """Prometheus scraping the operator's metrics port and the stack's club pods, its data under
    `root`; its process is added to `procs` for the caller to stop."""
    proc, info = prometheus.start(
        kubeconfig,
        root / "prometheus",
        root / "logs",
        operator_targets=[f"127.0.0.1:{operator_port}"],
        rule_files=[rules],
        extra_scrape_configs=extra,
    )
    procs.append(proc)
    return info


def value(info: prometheus.PrometheusInfo, promql: str) -> float | None:
    """The first sample's value of an instant query, None when it has none."""
    result = info.query(promql)
    return float(result[0]["value"][1]) if result else None


def active(info: prometheus.PrometheusInfo, alert: str) -> list[dict[str, Any]]:
    """The alert's instances Prometheus holds (pending or firing), each with its `labels`,
    `annotations` and `state`."""
    found: list[dict[str, Any]] = info.api("/api/v1/alerts")["alerts"]
    return [a for a in found if a["labels"].get("alertname") == alert]


def state(info: prometheus.PrometheusInfo, alert: str, where: str) -> str | None:
    """`firing`, `pending`, or None: the alert's state for the series matching `where`."""
    found = info.query(f'ALERTS{{alertname="{alert}", {where}}}')
    states = {s["metric"]["alertstate"] for s in found}
    return "firing" if "firing" in states else "pending" if "pending" in states else None
