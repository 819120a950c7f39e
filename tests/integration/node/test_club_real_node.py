"""A Club on the stack's real node (containerd, kubelet, kube-proxy): what the operator deploys runs.

Its own operator (on a stack of this folder's own, see conftest.py) puts every pod
of the Club on the real node, from the runtime image in the stack's registry. The API pod pulls the
image, passes its probes, and answers /healthz, a login as the club's owner and an authenticated
read through the Club's Service (kube-proxy, from the node's network), with its database, Redis and
bucket; a changed Secret rolls the API's pod and the old one stops gracefully."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from club_devstack import sample_video
from club_devstack.operator import RunningOperator, real_node_settings, start_operator
from club_devstack.stack import StackInfo
from tests.support import clubs, crds, videojobs

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)

NAME = "harbour-fc"


@pytest.fixture
def node_operator(
    stack: StackInfo, runtime_image: str, node_namespace: str, tmp_path: Path
) -> Iterator[RunningOperator]:
    running = start_operator(
        stack,
        tmp_path / "club-operator.log",
        namespaces=[node_namespace],
        resync_interval_sec="5",
        retry_delay_sec="1",
        **real_node_settings(stack, runtime_image),
    )
    yield running
    running.process.stop()


# One HTTP request, described by the JSON in argv[1]; prints [status, body].
_REQUEST = """
import json, sys, urllib.error, urllib.request
asked = json.loads(sys.argv[1])
headers = {"Content-Type": "application/json"}
if asked["token"]:
    headers["Authorization"] = "Bearer " + asked["token"]
data = None if asked["body"] is None else json.dumps(asked["body"]).encode()
request = urllib.request.Request(asked["url"], method=asked["method"], data=data, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=10) as resp:
        print(json.dumps([resp.status, json.loads(resp.read() or b"null")]))
except urllib.error.HTTPError as exc:
    print(json.dumps([exc.code, exc.read().decode()]))
"""


def _call(stack: StackInfo, method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    """[status, body] of one HTTP request made from the node's network namespace, where Service
    ClusterIPs route through kube-proxy."""
    assert stack.node is not None
    asked = json.dumps({"method": method, "url": url, "body": body, "token": token})
    done = subprocess.run(
        stack.node.netns_command(sys.executable, "-c", _REQUEST, asked),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"{method} {url} from the node's network: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _api_pods(core: k8s.CoreV1Api, namespace: str) -> list[k8s.V1Pod]:
    listed = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=api")
    return [p for p in listed.items if p.metadata.deletion_timestamp is None]


def test_a_clubs_api_runs_on_the_real_node_and_answers_through_its_service(
    node_operator: RunningOperator,
    stack: StackInfo,
    runtime_image: str,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
) -> None:
    assert stack.node is not None
    core = k8s.CoreV1Api(kube_api)
    spec = {"displayName": "Harbour", "api": {"replicas": 1}}
    clubs.create_club(custom, node_namespace, crds.manifest("Club", spec, NAME))
    # Ready means every Deployment is available: the API's pod passed its readiness probe, which
    # reads the database and Redis (/readyz), on the real node.
    status = clubs.ready_status(custom, node_namespace, NAME, timeout=300)

    (pod,) = _api_pods(core, node_namespace)
    assert pod.spec.node_name == stack.node.name
    (container,) = pod.status.container_statuses
    assert container.ready
    assert container.image == runtime_image
    assert container.restart_count == 0
    assert container.image_id.startswith(runtime_image.rsplit(":", 1)[0] + "@sha256:")  # from the registry

    service = core.read_namespaced_service(f"{NAME}-api", node_namespace)
    base = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
    assert _call(stack, "GET", f"{base}/healthz")[0] == 200
    ready = _call(stack, "GET", f"{base}/readyz")
    assert ready[0] == 200, ready

    owner = clubs.secret_data(core, node_namespace, f"{NAME}-owner")
    code, tokens = _call(
        stack, "POST", f"{base}/api/v1/auth/login", {"email": owner["email"], "password": owner["password"]}
    )
    assert code == 200, tokens
    code, me = _call(stack, "GET", f"{base}/api/v1/auth/me", token=tokens["access_token"])
    assert (code, me["email"]) == (200, owner["email"])
    # Without the token, nothing but health and login answers.
    assert _call(stack, "GET", f"{base}/api/v1/players")[0] == 401
    assert status["bucket"]

    # A changed Secret rolls the API's pod: the new one runs on the node, the old one stops
    # gracefully: it exits 0 on the kubelet's SIGTERM, within its grace period (not killed).
    old = pod.metadata.name
    since = core.list_namespaced_pod(node_namespace).metadata.resource_version
    core.patch_namespaced_secret(
        f"{NAME}-jwt",
        node_namespace,
        {"stringData": {"keys": '{"active": "k2", "keys": {"k2": "' + "y" * 48 + '"}}'}},
    )
    exit_code = None
    for event in k8s_watch.Watch().stream(
        core.list_namespaced_pod,
        node_namespace,
        field_selector=f"metadata.name={old}",
        resource_version=since,
        timeout_seconds=180,
    ):
        for found in event["object"].status.container_statuses or []:
            if found.state.terminated is not None:
                exit_code = found.state.terminated.exit_code
        if event["type"] == "DELETED":
            break
    assert exit_code == 0, f"the old API pod did not exit cleanly on SIGTERM: {exit_code}"
    rolled = clubs.wait_for(
        "a new API pod Ready on the real node",
        lambda: (
            (pods := _api_pods(core, node_namespace))
            and all(p.status.container_statuses and p.status.container_statuses[0].ready for p in pods)
            and pods
        ),
        timeout=180,
    )
    assert all(p.spec.node_name == stack.node.name for p in rolled)
    assert _call(stack, "GET", f"{base}/readyz")[0] == 200


def _video_pods(core: k8s.CoreV1Api, namespace: str) -> list[k8s.V1Pod]:
    listed = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=worker-video")
    return list(listed.items)


def test_a_video_worker_pod_removed_mid_job_finishes_the_job_before_it_stops(
    node_operator: RunningOperator,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
    tmp_path: Path,
) -> None:
    """The kubelet's SIGTERM reaches the worker while it transcodes: it takes no new job, finishes
    this one (no retry: one attempt) and exits within its grace period; nothing is lost."""
    assert stack.node is not None
    core = k8s.CoreV1Api(kube_api)
    spec = {"displayName": "Drain", "api": {"replicas": 1}, "workers": {"video": {"minReplicas": 1}}}
    clubs.create_club(custom, node_namespace, crds.manifest("Club", spec, NAME))
    status = clubs.ready_status(custom, node_namespace, NAME, timeout=300)
    source = tmp_path / "match.mp4"
    sample_video.generate(source, 90, preset="ultrafast")
    stack.minio.client().upload_file(str(source), status["bucket"], "uploads/match.mp4")
    job = crds.manifest(
        "VideoJob",
        {
            "clubRef": {"name": NAME},
            "source": {"key": "uploads/match.mp4"},
            "outputs": {"renditions": ["720p", "360p"]},
        },
        "drained-match",
    )
    crds.create(custom, node_namespace, job)
    clubs.wait_for(
        "the VideoJob transcoding",
        lambda: (videojobs.status(custom, node_namespace, "drained-match").get("progress") or 0) >= 10,
        timeout=300,
    )
    (worker,) = [p for p in _video_pods(core, node_namespace) if p.metadata.deletion_timestamp is None]
    assert worker.spec.node_name == stack.node.name
    core.delete_namespaced_pod(worker.metadata.name, node_namespace)  # the kubelet sends SIGTERM
    # While the job still runs, the pod is still there, Terminating: it has not been killed.
    still = core.read_namespaced_pod(worker.metadata.name, node_namespace)
    assert still.metadata.deletion_timestamp is not None
    done = videojobs.wait_phase(custom, node_namespace, "drained-match", "Succeeded", timeout=600)
    assert done["attempts"] == 1, done  # finished by the worker that was told to stop: no retry
    clubs.wait_for(
        "the drained pod gone",
        lambda: worker.metadata.name not in {p.metadata.name for p in _video_pods(core, node_namespace)},
        timeout=120,
    )
    keys = {
        o["Key"] for o in stack.minio.client().list_objects_v2(Bucket=status["bucket"]).get("Contents", [])
    }
    assert any(k.endswith("master.m3u8") for k in keys), sorted(keys)[:20]
