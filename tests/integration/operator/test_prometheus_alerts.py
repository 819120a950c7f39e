"""A real Prometheus (club_devstack.prometheus) over the local stack: it discovers a Club's pods
through Kubernetes service discovery with the labels the rules expect, reads the operator's series
with the clubs' own labels, evaluates every rule the chart ships without an error, and fires the
queue alert for jobs no worker takes, then resolves it when a worker starts.

The Club's pods run on kwok's simulated nodes, whose pod addresses answer no scrape: the queue test
runs the club's API and a worker as real processes with the environment the operator wrote for the
club's pods, and Prometheus scrapes that API as the club's `club-api` target."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import prometheus, tools
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from club_operator.monitoring import __main__ as generate
from tests.integration.operator.conftest import RunningOperator
from tests.integration.operator.test_club_restore import _api_environment as api_environment
from tests.support import alerting, clubs, crds

# Three jobs on the club's video queue, as the club's Redis user under its key prefix (RQ reads
# RQ_KEY_PREFIX from the environment at import: hence a process of its own).
ENQUEUE = """
from redis import Redis
from rq import Queue
from club_runtime.settings import get_settings
from club_runtime.worker.jobs import SERIALIZER
settings = get_settings()
redis = Redis.from_url(settings.redis_url.get_secret_value())
queue = Queue(settings.queue_video, connection=redis, serializer=SERIALIZER)
for n in range(3):
    queue.enqueue("club_runtime.worker.jobs.no_such_job", n)
"""


def _ready_club(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> None:
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name}, name))
    clubs.wait_condition(custom, namespace, name, "Ready", "True")


@pytest.fixture
def started(
    stack: StackInfo, club_operator: RunningOperator, tmp_path: Path
) -> Iterator[tuple[prometheus.PrometheusInfo, list[Process]]]:
    """Prometheus, and a list the test adds its processes to: all stopped afterwards."""
    procs: list[Process] = []
    yield _start(stack, club_operator, tmp_path, procs), procs
    for proc in reversed(procs):
        proc.stop()


def _start(
    stack: StackInfo,
    club_operator: RunningOperator,
    root: Path,
    procs: list[Process],
    extra: list[dict[str, Any]] | None = None,
    rules: Path = prometheus.RULES,
) -> prometheus.PrometheusInfo:
    return alerting.start(stack.kube.kubeconfig, club_operator.metrics_port, root, procs, extra or [], rules)


_value = alerting.value


def test_prometheus_discovers_the_clubs_pods_and_evaluates_every_rule(
    started: tuple[prometheus.PrometheusInfo, list[Process]],
    custom: k8s.CustomObjectsApi,
    namespace: str,
) -> None:
    info, _ = started
    _ready_club(custom, namespace, "seen")
    where = f'namespace="{namespace}", club="seen"'

    clubs.wait_for(
        "the operator's series with the club's labels",
        lambda: _value(info, f"club_operator_club_ready{{{where}}}") == 1,
        timeout=60,
    )

    def api_target() -> dict[str, Any] | None:
        for target in info.api("/api/v1/targets")["activeTargets"]:
            labels = target["labels"]
            if (labels.get("namespace"), labels.get("club"), labels.get("job")) == (
                namespace,
                "seen",
                "club-api",
            ):
                return dict(target)
        return None

    target = clubs.wait_for("the club's API pod discovered through Kubernetes", api_target, timeout=60)
    assert target["labels"]["pod"].startswith("seen-api-")
    assert target["discoveredLabels"]["__meta_kubernetes_pod_container_port_name"] == "http"

    expected = {group.name: len(group.rules) for group in generate.groups()}

    def evaluated() -> list[dict[str, Any]] | None:
        groups = info.api("/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if {g["name"]: len(g["rules"]) for g in groups} != expected:
            return None
        if any(rule["lastEvaluation"].startswith("0001-") for rule in rules):
            return None  # not evaluated yet
        return rules

    rules = clubs.wait_for("every rule evaluated", evaluated, timeout=60)
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert failing == {}


def _run(name: str, argv: list[str], env: dict[str, str], log: Path) -> Process:
    return Process(name, argv, log, env=env)


@pytest.mark.slow
def test_jobs_no_worker_takes_fire_the_queue_alert_and_a_worker_resolves_it(
    stack: StackInfo,
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    _ready_club(custom, namespace, "backlog")
    env = api_environment(core, namespace, "backlog")
    port = tools.free_port()
    procs: list[Process] = []
    try:
        api = _run(
            "club-api",
            [sys.executable, "-m", "club_runtime", "api", "--host", "127.0.0.1", "--port", str(port)],
            env,
            tmp_path / "logs" / "api.log",
        )
        procs.append(api)

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        api.wait_ready(answers, timeout=60)
        club_api = {
            "job_name": "club-api-process",
            "static_configs": [
                {
                    "targets": [f"127.0.0.1:{port}"],
                    "labels": {"namespace": namespace, "club": "backlog", "job": "club-api"},
                }
            ],
        }
        info = _start(
            stack, club_operator, tmp_path, procs, [club_api], alerting.hurried_rules(tmp_path / "rules")
        )
        where = f'namespace="{namespace}", club="backlog", queue="{namespace}.backlog.video"'
        try:
            clubs.wait_for(
                "the club's queue scraped",
                lambda: _value(info, f"club_queue_workers{{{where}}}") == 0,
                timeout=60,
            )
        except AssertionError as exc:
            targets = [
                t
                for t in info.api("/api/v1/targets")["activeTargets"]
                if t["scrapePool"] == "club-api-process"
            ]
            log = (tmp_path / "logs" / "api.log").read_text()[-3000:]
            seen = info.query('group by (__name__, queue) ({job="club-api", __name__=~"club_queue.*"})')
            raise AssertionError(f"{exc}; targets: {targets}; series: {seen}; the API's log: {log}") from None

        done = subprocess.run(
            [sys.executable, "-c", ENQUEUE],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        clubs.wait_for("3 jobs queued", lambda: _value(info, f"club_queue_depth{{{where}}}") == 3, timeout=60)

        def alert(state: str) -> bool:
            found = info.query(f'ALERTS{{alertname="ClubQueueNoWorker", alertstate="{state}", {where}}}')
            return bool(found)

        clubs.wait_for("the alert pending", lambda: alert("pending"), timeout=60)
        clubs.wait_for("the alert firing after its `for`", lambda: alert("firing"), timeout=120, interval=2)

        worker = _run(
            "club-worker",
            [
                sys.executable,
                "-m",
                "club_runtime",
                "worker",
                "--queues",
                env["QUEUE_VIDEO"],
                "--no-scheduler",
            ],
            env | {"WORKER_METRICS_PORT": "0"},
            tmp_path / "logs" / "worker.log",
        )
        procs.append(worker)
        clubs.wait_for(
            "the alert resolved once a worker takes the jobs",
            lambda: not alert("firing") and not alert("pending"),
            timeout=120,
        )
        assert _value(info, f"club_queue_depth{{{where}}}") == 0
    finally:
        for proc in reversed(procs):
            proc.stop()
