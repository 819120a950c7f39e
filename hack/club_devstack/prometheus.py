"""Prometheus for the local stack, started when a test asks for it (built from its Go module by
hack/tools.sh: Debian's has no Kubernetes service discovery): it discovers the clubs'
pods through Kubernetes service discovery (the stack's API server, by its kubeconfig), scrapes the
operator, and evaluates the alert rules the chart ships.

The scrape configuration is the contract the rules expect (club_operator.monitoring): a club pod's
series get `namespace` and `club` from the pod (its `footballclub.io/club` label), `job` from its
component (`club-api`, `club-worker-video` ...); the operator is scraped with honor_labels, so that
its series keep the clubs' `namespace` and `club`, under job `club-operator`. The operator runs as a
process beside the stack (not a pod), so it is a static target here; in a cluster the chart's
ServiceMonitor finds it.

Scrapes and rule evaluations every 2 seconds: tests wait on what Prometheus sees, not on the clock."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from club_devstack import tools
from club_devstack.procs import Process

REPO = tools.HACK_DIR.parent
RULES = REPO / "charts" / "club-operator" / "files" / "prometheus-rules.yaml"
OPERATOR_JOB = "club-operator"
CLUB_LABEL = "footballclub_io_club"  # footballclub.io/club as Prometheus names a pod label


@dataclass(frozen=True)
class PrometheusInfo:
    url: str

    def api(self, path: str, **params: str) -> Any:
        """GET a Prometheus HTTP API path; returns its `data`."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:  # noqa: S310 - our URL
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus answered {path}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's samples (`metric`, `value`)."""
        result: list[dict[str, Any]] = self.api("/api/v1/query", query=promql)["result"]
        return result


def build_config(
    kubeconfig: Path, rule_files: Sequence[Path], operator_targets: Sequence[str], *, interval: str = "2s"
) -> dict[str, Any]:
    """prometheus.yml for the stack (pure)."""
    pods = {
        "job_name": "club-pods",
        "kubernetes_sd_configs": [{"role": "pod", "kubeconfig_file": str(kubeconfig)}],
        "relabel_configs": [
            # A club's pods, on the ports that serve /metrics: the API's http, the workers' metrics.
            {"source_labels": [f"__meta_kubernetes_pod_label_{CLUB_LABEL}"], "regex": ".+", "action": "keep"},
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": "http|metrics",
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": [f"__meta_kubernetes_pod_label_{CLUB_LABEL}"], "target_label": "club"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {
                "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
                "target_label": "job",
                "replacement": "club-$1",
            },
        ],
    }
    operator = {
        "job_name": OPERATOR_JOB,
        "honor_labels": True,
        "static_configs": [{"targets": list(operator_targets)}],
    }
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [pods, operator],
    }


def start(
    kubeconfig: Path,
    root: Path,
    logs: Path,
    *,
    operator_targets: Sequence[str] = (),
    rule_files: Sequence[Path] = (RULES,),
    extra_scrape_configs: Sequence[dict[str, Any]] = (),
) -> tuple[Process, PrometheusInfo]:
    """Start Prometheus on a free port with its data under `root`; returns once it is ready."""
    root.mkdir(parents=True, exist_ok=True)
    config = build_config(kubeconfig, rule_files, operator_targets)
    config["scrape_configs"] += list(extra_scrape_configs)
    path = root / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = tools.free_port()
    proc = Process(
        "prometheus",
        [
            str(tools.go_binary("prometheus")),
            f"--config.file={path}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        logs / "prometheus.log",
    )
    info = PrometheusInfo(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{info.url}/-/ready", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except OSError:
            return False

    proc.wait_ready(ready, timeout=60)
    return proc, info
