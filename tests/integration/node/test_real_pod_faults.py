"""Faults on real pods: Redis, then MinIO, then PostgreSQL stopped for OUTAGE_SEC each while a
VideoJob runs on a real video worker pod and a client calls the Club's API.

The servers are the test's own (datastores.py's helpers, on ports it chose, at the address the
node's pods reach), never the stack's shared ones: the Club names its PostgreSQL and S3 servers by
Secret (spec.*.serverSecretRef) and the test's own operator (on this folder's own stack, see
conftest.py) has the test's Redis as its `redis_url`. Redis keeps nothing across a restart
(no persistence, as the stack runs it): the Club's Redis user and any job state are gone when it
comes back, and the operator must make them again.

For each outage, observed while it lasts (held to its deadline, polling):
- the API's /readyz (asked at the pod's IP) answers 503 naming the server, and the kubelet marks
  the API pod unready;
- a client's call through the Service gets a 503 (the API still in the Service) or no answer (the
  unready pod taken out of it), never a 500;
- the Club's condition for that server goes False, and Ready with it;
and once the server is back, without anyone touching a pod:
- /readyz answers 200 again, the pod is Ready, the Club's conditions are all True;
- the VideoJob that was running Succeeded (after retries where the outage failed an attempt), with
  its outputs in the bucket;
- no pod was replaced, and no container restarted (liveness does not depend on the servers)."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import datastores, sample_video, tools
from club_devstack.operator import RunningOperator, real_node_settings, start_operator
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from tests.support import clubs, crds
from tests.support import videojobs as vjs

NAME = "storm-fc"
OUTAGE_SEC = 30
VIDEO_SECONDS = 60  # with the ladder, minutes of work on a small node: still under way when a fault starts
SOURCE_KEY = "uploads/storm-match.mp4"
# Each server, the /readyz check that names it and the Club condition that reports it.
FAULTS = (
    ("redis", "redis", "WorkloadsReady"),
    ("minio", "s3", "StorageReady"),
    ("postgres", "database", "DatabaseReady"),
)


@dataclass
class OwnServer:
    """A server of this test's own, which it stops and starts again on the same port and data."""

    name: str
    run: Callable[[], Process]
    process: Process | None = None

    def start(self) -> None:
        self.process = self.run()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@dataclass
class OwnServers:
    postgres: datastores.PostgresInfo
    redis: datastores.RedisInfo
    minio: datastores.MinioInfo
    by_name: dict[str, OwnServer] = field(default_factory=dict)


@pytest.fixture
def own_servers() -> Iterator[OwnServers]:
    # Not under pytest's tmp_path: PostgreSQL runs as its own user, which must reach the folder.
    root = Path(tempfile.mkdtemp(prefix="club-test-faults-"))
    root.chmod(0o755)
    logs = root / "logs"
    address = datastores.server_address()
    started: list[OwnServer] = []
    try:
        pg_data, pg_password = datastores.init_postgres(root)
        pg = datastores.PostgresInfo(address, tools.free_port(), "postgres", pg_password)
        redis_data, minio_data = root / "redis", root / "minio"
        redis_data.mkdir()
        minio_data.mkdir()
        redis = datastores.RedisInfo(
            address, tools.free_port(), databases=16, password=secrets.token_urlsafe(24)
        )
        minio = datastores.MinioInfo(
            f"http://{address}:{tools.free_port()}", "faults-admin", secrets.token_urlsafe(24)
        )
        servers = OwnServers(pg, redis, minio)
        for server in (
            OwnServer("postgres", lambda: datastores.run_postgres(pg_data, pg, logs)),
            OwnServer("redis", lambda: datastores.run_redis(redis_data, redis, logs)),
            OwnServer("minio", lambda: datastores.run_minio(minio_data, minio, logs)),
        ):
            server.start()
            started.append(server)
            servers.by_name[server.name] = server
        yield servers
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fault_operator(
    stack: StackInfo, runtime_image: str, node_namespace: str, own_servers: OwnServers, tmp_path: Path
) -> Iterator[RunningOperator]:
    running = start_operator(
        stack,
        tmp_path / "club-operator.log",
        namespaces=[node_namespace],
        resync_interval_sec="3",
        retry_delay_sec="1",
        connect_timeout_sec="2",
        redis_url=own_servers.redis.url(0),
        **real_node_settings(stack, runtime_image),
    )
    yield running
    running.process.stop()


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """(status, body) of one request from the host (which routes the stack's Service range to its
    node); a request that gets no answer within its timeout is (0, the error)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text
    except OSError as exc:
        return 0, str(exc)


@dataclass
class Pods:
    core: k8s.CoreV1Api
    namespace: str

    def all(self) -> list[k8s.V1Pod]:
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=f"footballclub.io/club={NAME}")
        return [p for p in listed.items if p.metadata.deletion_timestamp is None]

    def restarts(self) -> dict[str, int]:
        """Every live pod of the Club, by name: its containers' restarts."""
        return {
            p.metadata.name: sum(c.restart_count for c in p.status.container_statuses or [])
            for p in self.all()
        }

    def last_exits(self) -> str:
        """The end of the log of each container that exited, to say why it restarted."""
        said = []
        for pod in self.all():
            for status in pod.status.container_statuses or []:
                if status.restart_count:
                    log = self.core.read_namespaced_pod_log(
                        pod.metadata.name, self.namespace, previous=True, tail_lines=40
                    )
                    said.append(f"{pod.metadata.name} ({status.last_state.terminated}):\n{log}")
        return "\n".join(said)

    def api(self) -> k8s.V1Pod:
        (pod,) = [p for p in self.all() if p.metadata.labels.get("app.kubernetes.io/component") == "api"]
        return pod

    def api_ready(self) -> bool:
        """The API pod's Ready condition, as the kubelet's readiness probe set it."""
        return any(c.type == "Ready" and c.status == "True" for c in self.api().status.conditions or [])

    def api_url(self) -> str:
        """The API pod's own address: asked there, /readyz answers even while the pod is unready
        (and out of its Service)."""
        pod = self.api()
        return f"http://{pod.status.pod_ip}:{pod.spec.containers[0].ports[0].container_port}"


@dataclass
class Seen:
    """What one outage showed while it lasted."""

    readyz: list[tuple[int, Any]] = field(default_factory=list)
    api_calls: list[int] = field(default_factory=list)
    api_pod_unready: bool = False
    false_conditions: dict[str, str] = field(default_factory=dict)  # type -> reason
    videojob_phases: list[str] = field(default_factory=list)

    def readyz_failed(self, check: str) -> bool:
        return any(
            code == 503 and isinstance(body, dict) and body["checks"][check] != "ok"
            for code, body in self.readyz
        )


def _watch_outage(
    seconds: float,
    base: str,
    token: str,
    pods: Pods,
    custom: k8s.CustomObjectsApi,
    namespace: str,
    job: str,
) -> Seen:
    """Poll everything that must be observed during an outage, until its deadline."""
    seen = Seen()
    pod_url = pods.api_url()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.readyz.append(_http("GET", f"{pod_url}/readyz"))
        seen.api_calls.append(_http("GET", f"{base}/api/v1/players", token=token)[0])
        seen.api_pod_unready |= not pods.api_ready()
        for cond in (clubs.get_club(custom, namespace, NAME) or {}).get("status", {}).get("conditions", []):
            if cond["status"] == "False":
                seen.false_conditions.setdefault(cond["type"], cond["reason"])
        phase = vjs.status(custom, namespace, job).get("phase", "")
        if not seen.videojob_phases or seen.videojob_phases[-1] != phase:
            seen.videojob_phases.append(phase)
        time.sleep(0.5)
    return seen


def _videojob(name: str) -> dict[str, Any]:
    spec = {
        "clubRef": {"name": NAME},
        "source": {"key": SOURCE_KEY},
        "outputs": {"renditions": ["720p", "480p", "360p"], "thumbnailIntervalSeconds": 5},
        "deadlineSeconds": 900,
    }
    return crds.manifest("VideoJob", spec, name)


@pytest.mark.timeout(900)  # the stack, the images and three outages, with their recoveries
def test_redis_minio_and_postgres_outages_on_real_pods_lose_nothing_and_restart_nothing(
    fault_operator: RunningOperator,
    own_servers: OwnServers,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
    tmp_path: Path,
) -> None:
    assert stack.node is not None
    namespace = node_namespace
    core = k8s.CoreV1Api(kube_api)
    pods = Pods(core, namespace)
    minio = own_servers.minio
    for name, data in {
        "own-pg": {"dsn": own_servers.postgres.dsn()},
        "own-s3": {"endpoint": minio.endpoint, "accessKey": minio.access_key, "secretKey": minio.secret_key},
    }.items():
        core.create_namespaced_secret(
            namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), string_data=data)
        )
    spec = {
        "displayName": "Storm",
        "api": {"replicas": 1},
        "database": {"serverSecretRef": {"name": "own-pg"}},
        "storage": {"serverSecretRef": {"name": "own-s3"}},
        "workers": {"video": {"minReplicas": 1, "maxReplicas": 1}},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, NAME))
    status = clubs.ready_status(custom, namespace, NAME, timeout=300)
    before = pods.restarts()
    assert len(before) == 3, before  # the API, the default and the video worker
    assert all(p.spec.node_name == stack.node.name for p in pods.all())

    source = tmp_path / "storm-match.mp4"
    sample_video.generate(source, VIDEO_SECONDS)
    minio.client().upload_file(str(source), status["bucket"], SOURCE_KEY)

    service = core.read_namespaced_service(f"{NAME}-api", namespace)
    base = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
    owner = clubs.secret_data(core, namespace, f"{NAME}-owner")
    code, tokens = _http(
        "POST", f"{base}/api/v1/auth/login", {"email": owner["email"], "password": owner["password"]}
    )
    assert code == 200, tokens
    token = tokens["access_token"]

    report: list[str] = []
    for server, check, condition in FAULTS:
        job = f"during-{server}"
        crds.create(custom, namespace, _videojob(job))
        # Running: a worker has the job, its transcode still ahead; the outage starts as it begins.
        vjs.wait_phase(custom, namespace, job, "Running", timeout=300)

        own_servers.by_name[server].stop()
        seen = _watch_outage(OUTAGE_SEC, base, token, pods, custom, namespace, job)
        own_servers.by_name[server].start()

        # Under way when the outage began: not finished at its first look. Queued is an attempt the
        # outage already failed (a retry waiting out its backoff), which is what an outage may do.
        assert seen.videojob_phases[0] in {"Running", "Queued"}, (
            f"{server} down: the job was not under way: {seen}"
        )
        assert seen.readyz_failed(check), f"{server} down: /readyz never said so: {seen.readyz[-3:]}"
        codes = [code for code, _ in seen.readyz]
        assert 200 not in codes[codes.index(503) :], f"{server} down: /readyz flapped: {codes}"
        assert seen.api_pod_unready, f"{server} down: the kubelet never marked the API pod unready"
        assert set(seen.api_calls) <= {0, 200, 503}, f"{server} down: the API answered {seen.api_calls}"
        assert condition in seen.false_conditions, f"{server} down: {seen.false_conditions}"
        assert "Ready" in seen.false_conditions, f"{server} down: {seen.false_conditions}"

        # Back by itself: nobody touches a pod.
        clubs.wait_for(f"/readyz after {server} came back", lambda: _http("GET", f"{base}/readyz")[0] == 200)
        clubs.wait_for(f"the API pod Ready after {server} came back", pods.api_ready)
        club = clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=120)
        assert all(c["status"] == "True" for c in club["status"]["conditions"]), club["status"]
        done = vjs.wait_phase(custom, namespace, job, "Succeeded", timeout=300)
        assert _http("GET", f"{base}/api/v1/players", token=token)[0] == 200
        # Nothing lost: the master playlist and every rendition's are in the bucket.
        outputs = done["outputs"]
        playlists = [outputs["masterPlaylist"], *(r["playlist"] for r in outputs["renditions"])]
        assert len(playlists) == 4, outputs
        for key in playlists:
            assert minio.client().head_object(Bucket=status["bucket"], Key=key)["ContentLength"] > 0

        after = pods.restarts()
        assert after == before, (
            f"after the {server} outage, pods or restarts changed: {before} -> {after}\n{pods.last_exits()}"
        )
        report.append(
            f"{server}: /readyz {sorted({c for c, _ in seen.readyz})}, API calls "
            f"{sorted(set(seen.api_calls))}, conditions False {seen.false_conditions}, VideoJob "
            f"{' -> '.join(seen.videojob_phases)} -> Succeeded after {done.get('attempts')} attempt(s), "
            f"restarts {after}"
        )
    print("\n".join(report))
