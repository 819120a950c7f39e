"""What a platform team and a club's users see, on any cluster (conftest.py: the one the environment
names, or the local stack's real node): the operator image installed as a pod, the minimal sample
Club applied and Ready, its API answering /healthz and a login through the Club's Service, and a
VideoJob processed by the Club's video worker pod.

Everything that talks to the Club's API or bucket runs in a pod of the runtime image
(in_cluster.run_python): Service ClusterIPs and the clubs' servers are reached from inside the
cluster, as on kind, where nothing else reaches them. Credentials stay in the cluster: a client pod
takes them from the Club's Secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.support import clubs, crds, in_cluster, videojobs
from tests.support.e2e_cluster import Cluster

SAMPLE = "club-minimal.yaml"


@pytest.fixture(scope="module")
def club(cluster_api: k8s.ApiClient, club_namespace: str) -> Iterator[dict[str, Any]]:
    """The minimal sample Club, applied as a user would, once Ready; deleted afterwards (the
    operator's pod runs its finalizer)."""
    custom = k8s.CustomObjectsApi(cluster_api)
    manifest = crds.load_sample(SAMPLE)
    name = manifest["metadata"]["name"]
    clubs.create_club(custom, club_namespace, manifest)
    try:
        clubs.ready_status(custom, club_namespace, name, timeout=480)
    except AssertionError as exc:
        pods = in_cluster.describe_pods(k8s.CoreV1Api(cluster_api), club_namespace)
        raise AssertionError(f"{exc}\n{pods}") from None
    ready = clubs.get_club(custom, club_namespace, name)
    assert ready is not None
    yield ready
    clubs.delete_club(custom, club_namespace, name)


def _component_pods(core: k8s.CoreV1Api, namespace: str, club: str, component: str) -> list[k8s.V1Pod]:
    selector = f"footballclub.io/club={club},app.kubernetes.io/component={component}"
    listed = core.list_namespaced_pod(namespace, label_selector=selector)
    return [p for p in listed.items if p.metadata.deletion_timestamp is None]


def _ready(pod: k8s.V1Pod) -> bool:
    statuses = pod.status.container_statuses or []
    return bool(statuses) and all(s.ready for s in statuses)


# GET /healthz, a login as the club's owner, /me with the token and a read without one, through the
# Service at argv[1]; the owner's credentials come from the Club's Secret. Prints one JSON line.
_API_CLIENT = """
import json, os, sys, urllib.error, urllib.request
base = sys.argv[1]

def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:500]

seen = {"healthz": call("GET", "/healthz")[0], "readyz": call("GET", "/readyz")[0]}
login = {"email": os.environ["OWNER_EMAIL"], "password": os.environ["OWNER_PASSWORD"]}
code, tokens = call("POST", "/api/v1/auth/login", login)
seen["login"] = code
if code == 200:
    code, me = call("GET", "/api/v1/auth/me", token=tokens["access_token"])
    seen["me"] = [code, me.get("email") == login["email"] if isinstance(me, dict) else me]
seen["anonymous"] = call("GET", "/api/v1/players")[0]
print(json.dumps(seen))
"""


def test_a_club_is_ready_and_its_api_answers_through_its_service(
    cluster: Cluster, cluster_api: k8s.ApiClient, club_namespace: str, club: dict[str, Any]
) -> None:
    core = k8s.CoreV1Api(cluster_api)
    name = club["metadata"]["name"]
    assert club["status"]["phase"] == "Ready"
    api_pods = _component_pods(core, club_namespace, name, "api")
    assert api_pods
    for pod in api_pods:
        assert _ready(pod), pod.status
        assert pod.spec.containers[0].image == cluster.runtime_image
        assert pod.status.container_statuses[0].restart_count == 0

    service = core.read_namespaced_service(f"{name}-api", club_namespace)
    base = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
    log = in_cluster.run_python(
        cluster,
        core,
        club_namespace,
        _API_CLIENT,
        base,
        env=[
            in_cluster.secret_env("OWNER_EMAIL", f"{name}-owner", "email"),
            in_cluster.secret_env("OWNER_PASSWORD", f"{name}-owner", "password"),
        ],
    )
    seen = json.loads(log.strip().splitlines()[-1])
    assert seen == {"healthz": 200, "readyz": 200, "login": 200, "me": [200, True], "anonymous": 401}


# argv: bucket, key. Makes a short 240p test video with ffmpeg and puts it into the Club's bucket
# with the Club's own S3 credentials (its Secret), as a club's uploader would.
_UPLOAD = """
import os, subprocess, sys
import boto3
from botocore.config import Config
bucket, key = sys.argv[1], sys.argv[2]
subprocess.run(
    ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
     "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25:duration=6",
     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
     "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
     "/tmp/match.mp4"],
    check=True,
)
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_ENDPOINT_URL"],
    region_name=os.environ["S3_REGION"],
    aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
    config=Config(s3={"addressing_style": "path"}),
)
s3.upload_file("/tmp/match.mp4", bucket, key)
print("uploaded", key)
"""

# argv: bucket, then keys: prints the size of each object (fails if one is missing).
_HEAD = """
import os, sys
import boto3
from botocore.config import Config
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_ENDPOINT_URL"],
    region_name=os.environ["S3_REGION"],
    aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
    config=Config(s3={"addressing_style": "path"}),
)
print("sizes", [s3.head_object(Bucket=sys.argv[1], Key=k)["ContentLength"] for k in sys.argv[2:]])
"""


def _storage_env(club: str) -> list[dict[str, Any]]:
    secret = f"{club}-storage"
    return [
        in_cluster.secret_env("S3_ENDPOINT_URL", secret, "endpoint"),
        in_cluster.secret_env("S3_REGION", secret, "region"),
        in_cluster.secret_env("S3_ACCESS_KEY_ID", secret, "accessKeyId"),
        in_cluster.secret_env("S3_SECRET_ACCESS_KEY", secret, "secretAccessKey"),
    ]


def test_a_videojob_is_processed_by_the_clubs_video_worker_pod(
    cluster: Cluster, cluster_api: k8s.ApiClient, club_namespace: str, club: dict[str, Any]
) -> None:
    core = k8s.CoreV1Api(cluster_api)
    custom = k8s.CustomObjectsApi(cluster_api)
    name, bucket = club["metadata"]["name"], club["status"]["bucket"]
    key = "uploads/e2e-match.mp4"
    in_cluster.run_python(cluster, core, club_namespace, _UPLOAD, bucket, key, env=_storage_env(name))
    workers = clubs.wait_for(
        "a Ready video worker pod",
        lambda: [p for p in _component_pods(core, club_namespace, name, "worker-video") if _ready(p)],
        timeout=300,
        interval=1,
    )

    job = crds.load_sample("videojob.yaml")
    job["metadata"] = {"name": f"{name}-e2e-match"}
    job["spec"]["source"]["key"] = key
    job["spec"]["outputs"] = {
        "renditions": ["360p"],
        "thumbnailIntervalSeconds": 2,
        "clips": [{"name": "opening-goal", "start": 1, "end": 3}],
    }
    created = crds.create(custom, club_namespace, job)
    job_name = job["metadata"]["name"]
    try:
        status = videojobs.wait_phase(custom, club_namespace, job_name, "Succeeded", timeout=600)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{in_cluster.describe_pods(core, club_namespace)}") from None
    assert status["progress"] == 100
    outputs = status["outputs"]
    keys = [outputs["masterPlaylist"], *(clip["key"] for clip in outputs["clips"])]
    log = in_cluster.run_python(cluster, core, club_namespace, _HEAD, bucket, *keys, env=_storage_env(name))
    assert "sizes" in log

    # A worker pod of the Club did it: the job's id (the VideoJob's uid) is in one's log.
    uid = created["metadata"]["uid"]
    logs = {p.metadata.name: core.read_namespaced_pod_log(p.metadata.name, club_namespace) for p in workers}
    assert any(uid in log for log in logs.values()), {n: log[-2000:] for n, log in logs.items()}

    # Deleted, it is gone once the operator (its pod) has run its finalizer.
    custom.delete_namespaced_custom_object(
        crds.GROUP, crds.VERSION, club_namespace, videojobs.PLURAL, job_name
    )
    clubs.wait_for(
        f"VideoJob {job_name} gone", lambda: videojobs.get(custom, club_namespace, job_name) is None
    )
