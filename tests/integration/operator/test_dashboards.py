"""No dead panel: after a short workload on the local stack (logins, reads, two VideoJobs, a
verified backup), every query of every dashboard the chart ships (club_operator.monitoring.dashboards)
returns data from a real Prometheus (club_devstack.prometheus), run as Grafana runs it: a range query
over the workload, the dashboard's variables set to the test's namespace and club, `$__rate_interval`
to a window of a few 2-second scrapes. A query answers when one of its points is a number (not NaN:
a latency quantile with nothing observed, a ratio of nothing, is a blank graph).

The Club's pods run on kwok's simulated nodes, which answer no scrape: as in
test_prometheus_alerts.py, the club's API and its video worker run here as processes with the
environment the operator wrote for their pods, and Prometheus scrapes them as the club's `club-api`
and `club-worker-video` targets. The operator (the session's process) is scraped as `club-operator`.

Histograms and labelled counters are born with their first observation, which `rate` does not see:
the workload makes each one at least twice, a scrape apart (two VideoJobs, requests until Prometheus
sees their rate), so that every rate and quantile has an increase to show."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import prometheus, tools
from club_devstack.pod_worker import PodApi, pod_environment
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from club_operator.monitoring import dashboards
from tests.integration.operator.conftest import RunningOperator
from tests.integration.operator.test_backup_verify import ClubBackups
from tests.integration.worker.harness import make_source
from tests.support import alerting, clubs, crds, videojobs

pytestmark = pytest.mark.timeout(900)

NAME = "panels-fc"
RATE_WINDOW = "20s"  # Grafana's $__rate_interval for 2 s scrapes is 4 scrapes or more
SCRAPE_SEC = 2
# Panels with no data on this stack, each for a reason of the stack's, not of the query's; the test
# asserts that exactly these are empty.
NO_DATA_HERE = {
    # Size and duration come from the backup Job's report, which a pod on kwok's nodes does not
    # write (tests/integration/node/test_club_backups.py sees them on the real node).
    ("fleet", "Size of the newest backup"),
}


def _request(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data, headers=headers)  # noqa: S310 - ours
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our API
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _login(url: str, email: str, password: str) -> str:
    body = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - our API
        f"{url}/api/v1/auth/login", method="POST", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our API
        return str(json.load(resp)["access_token"])


class Stack:
    """The club's API and video worker as processes, and Prometheus scraping them and the operator."""

    def __init__(self, stack: StackInfo, operator: RunningOperator, api: k8s.ApiClient, namespace: str,
                 root: Path) -> None:  # fmt: skip
        self.procs: list[Any] = []
        self.namespace = namespace
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.api = PodApi(api, namespace, NAME, root / "logs" / "api.log")
        self.procs.append(self.api)
        self.api.wait_ready()
        command, env = pod_environment(api, namespace, f"{NAME}-worker-video")
        args = command[1:]  # club-runtime worker --queues ... --metrics-port ...
        worker_port = tools.free_port()
        args[args.index("--metrics-port") + 1] = str(worker_port)
        env.update(VIDEO_X264_PRESET="ultrafast", VIDEO_RETRY_INTERVALS_SEC="[1, 1]")
        self.worker = Process(
            "club-worker-video",
            [sys.executable, "-m", "club_runtime", *args],
            root / "logs" / "worker.log",
            env=env,
        )
        self.procs.append(self.worker)
        api_target = self.api.url.removeprefix("http://")
        extra = [
            self._static("club-api-process", api_target, "club-api"),
            self._static("club-worker-process", f"127.0.0.1:{worker_port}", "club-worker-video"),
        ]
        self.prometheus = alerting.start(
            stack.kube.kubeconfig, operator.metrics_port, root, self.procs, extra
        )

    def _static(self, scrape: str, target: str, job: str) -> dict[str, Any]:
        labels = {"namespace": self.namespace, "club": NAME, "job": job}
        return {"job_name": scrape, "static_configs": [{"targets": [target], "labels": labels}]}

    def seen(self, promql: str) -> bool:
        return bool(self.prometheus.query(promql))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@pytest.fixture
def running(
    stack: StackInfo,
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Stack]:
    spec = {"displayName": "Panels", "storage": {"quota": "1Gi"}, "backup": {"verify": True}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, NAME))
    clubs.ready_status(custom, namespace, NAME)
    started = Stack(stack, club_operator, kube_api, namespace, tmp_path)
    yield started
    started.stop()


def _points(info: prometheus.PrometheusInfo, promql: str, start: float, end: float) -> list[float]:
    data = info.api(
        "/api/v1/query_range", query=promql, start=f"{start:.3f}", end=f"{end:.3f}", step=str(SCRAPE_SEC)
    )
    return [float(v) for series in data["result"] for _, v in series["values"]]


def _queries(namespace: str) -> list[tuple[str, str, str]]:
    """(dashboard, panel, PromQL) of every query, the variables set as Grafana would set them."""
    found = []
    for name, document in dashboards.documents().items():
        for panel in document["panels"]:
            for target in panel.get("targets", []) if panel["type"] != "row" else []:
                expr = (
                    target["expr"]
                    .replace("$__rate_interval", RATE_WINDOW)
                    .replace("$namespace", namespace)
                    .replace("$club", NAME)
                )
                found.append((name, panel["title"], expr))
    return found


def test_every_query_parses(tmp_path: Path) -> None:
    """Prometheus's own parser (promtool, on the queries as recording rules), before any data."""
    queries = _queries("some-namespace")
    rules = [{"record": f"dashboard:query_{n}", "expr": expr} for n, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "queries.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(
        [str(tools.system_binary("promtool")), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(queries)} rules found" in done.stdout


@pytest.mark.slow
def test_every_dashboard_panel_has_data_after_a_short_workload(
    running: Stack,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    start = time.time()
    where = f'namespace="{namespace}", club="{NAME}"'
    clubs.wait_for(
        "the club's API and worker and the operator scraped",
        lambda: (
            running.seen(f'up{{{where}, job="club-api"}} == 1')
            and running.seen(f'up{{{where}, job="club-worker-video"}} == 1')
            and running.seen(f"club_operator_club_ready{{{where}}} == 1")
        ),
        timeout=60,
    )

    # Logins and reads, one failed login, until Prometheus has seen the reads' rate rise.
    owner = clubs.secret_data(core, namespace, f"{NAME}-owner")
    url = running.api.url
    assert _request(f"{url}/api/v1/auth/login", "POST", {"email": owner["email"], "password": "wrong"}) == 401

    def reads_seen() -> bool:
        token = _login(url, owner["email"], owner["password"])
        assert _request(f"{url}/api/v1/auth/me", token=token) == 200
        assert _request(f"{url}/api/v1/players", token=token) == 200
        reads = f'club_api_request_duration_seconds_count{{{where}, route="/api/v1/players"}}'
        return running.seen(f"rate({reads}[{RATE_WINDOW}]) > 0")

    clubs.wait_for("the reads' rate seen by Prometheus", reads_seen, timeout=90, interval=1)

    # Two VideoJobs, the second once Prometheus has seen the first finished: each worker series is
    # born with the first and rises with the second.
    source = make_source(tmp_path / "clip.mp4", width=320, height=240, seconds=2)
    bucket = clubs.ready_status(custom, namespace, NAME)["bucket"]
    stack.minio.client().upload_file(str(source), bucket, "uploads/clip.mp4")
    outputs = {"renditions": ["240p"], "thumbnailIntervalSeconds": 1}
    for n in (1, 2):
        job = crds.manifest(
            "VideoJob",
            {"clubRef": {"name": NAME}, "source": {"key": "uploads/clip.mp4"}, "outputs": outputs},
            f"clip-{n}",
        )
        crds.create(custom, namespace, job)
        done = videojobs.wait_phase(custom, namespace, f"clip-{n}", "Succeeded", timeout=180)
        assert done["phase"] == "Succeeded"
        clubs.wait_for(
            f"VideoJob {n} counted by the worker and the operator",
            lambda n=n: (
                running.seen(f'sum(club_worker_jobs_total{{{where}, outcome="succeeded"}}) == {n}')
                and running.seen(f'club_operator_videojob_transitions_total{{phase="Succeeded"}} >= {n}')
            ),
            timeout=60,
        )

    # A backup, taken for real as the club's Job would, then verified by the operator.
    backups = ClubBackups(stack, custom, core, namespace, NAME)
    backups.take("panels-1")
    backups.record("panels-1")
    assert backups.wait_verified("panels-1")["verified"] is True
    clubs.wait_for(
        "the backup's series scraped",
        lambda: (
            running.seen(f"club_backup_last_success_timestamp_seconds{{{where}}}")
            and running.seen('club_backup_verifies_total{result="passed"}')
        ),
        timeout=60,
    )
    # The bucket's size, from MinIO's data usage: its scanner takes about a minute.
    clubs.wait_for(
        "the bucket's usage read",
        lambda: running.seen(f"club_storage_used_bytes{{{where}}} > 0"),
        timeout=300,
    )
    # The range's last step lands after every sample the waits above saw (one may be a scrape of
    # the last two seconds: a step before it would find nothing of a series that new).
    end = time.time() + 2 * SCRAPE_SEC

    dead: dict[tuple[str, str], list[str]] = {}
    for board, panel, expr in _queries(namespace):
        if not any(not math.isnan(v) for v in _points(running.prometheus, expr, start, end)):
            dead.setdefault((board, panel), []).append(expr)
    assert set(dead) == NO_DATA_HERE, {key: dead.get(key, "has data") for key in set(dead) ^ NO_DATA_HERE}
