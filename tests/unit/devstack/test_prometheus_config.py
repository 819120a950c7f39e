"""The local stack's prometheus.yml is the scrape contract the alert rules expect: club pods found
through Kubernetes with namespace, club and job labels; the operator under the rules' job name,
its own labels kept; the chart's rules file loaded."""

from __future__ import annotations

from pathlib import Path

from club_devstack import prometheus
from club_operator.monitoring import __main__ as generate
from club_operator.monitoring import alerts

CONFIG = prometheus.build_config(Path("kubeconfig"), [prometheus.RULES], ["127.0.0.1:8080"])


def _job(name: str) -> dict[str, object]:
    return next(job for job in CONFIG["scrape_configs"] if job["job_name"] == name)


def test_the_rules_file_is_the_charts() -> None:
    assert CONFIG["rule_files"] == [str(prometheus.RULES)]
    assert prometheus.RULES == prometheus.REPO / generate.DEFAULT_PATH


def test_the_operator_is_scraped_under_the_rules_job_with_its_own_labels() -> None:
    job = _job(alerts.OPERATOR_JOB)
    assert job["honor_labels"] is True
    assert job["static_configs"] == [{"targets": ["127.0.0.1:8080"]}]


def test_club_pods_are_found_through_kubernetes_and_labelled_as_the_rules_expect() -> None:
    job = _job("club-pods")
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "kubeconfig_file": "kubeconfig"}]
    relabels = job["relabel_configs"]
    assert isinstance(relabels, list)
    targets = {r.get("target_label"): r["source_labels"] for r in relabels if "target_label" in r}
    assert targets == {
        "namespace": ["__meta_kubernetes_namespace"],
        "club": ["__meta_kubernetes_pod_label_footballclub_io_club"],
        "pod": ["__meta_kubernetes_pod_name"],
        "job": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
    }
    kept = [r for r in relabels if r.get("action") == "keep"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
        "regex": "http|metrics",
        "action": "keep",
    } in kept
