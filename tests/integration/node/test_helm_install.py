"""`helm install` of charts/club-operator runs the operator image as two pods on the real node with
the chart's ServiceAccount and RBAC.

The namespaced install (watchNamespaces) starts from the chart's previous version (0.1.0, taken out
of git history: tests/support/helm.py): the pod holding the Lease reconciles two Clubs to Ready
(their pods on the real node) and leaves a Club of another namespace alone; its process SIGKILLed,
its container restarts and resumes; frozen and deleted, the other pod takes over (the seconds to
its first reconcile are printed). `helm upgrade` to this tree's chart updates the Club CRD (its
Message column), rolls the operator's pods, keeps every Club Ready throughout (every version the
API server sends is watched) and writes little to the Clubs and their objects (the audit log
counts it). The upgraded operator then runs every feature: a VideoJob Succeeded by a club's video
worker pod, a backup (backup-now) verified, a ClubRestore, a rotation of every credential and a
Club's deletion. `helm uninstall` leaves the CRDs, the Club and its database role and bucket in
place. The API server's audit log then shows every request of the operator's ServiceAccount
granted by the chart and none denied; the grants the flow left unused are printed.

The cluster-wide install (the default) reconciles a Club in a namespace it was never told about,
with its ClusterRole only, and nothing it asks is denied.

The images are the ones test_operator_pod.py builds (shared registry storage)."""

from __future__ import annotations

import collections
import datetime
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from club_devstack import images, kube, operator_pod, sample_video
from club_devstack.operator import real_node_settings
from club_devstack.stack import StackInfo
from tests.support import audit, clubs, crds, helm, rotation, videojobs

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)

RELEASE = "club-operator"  # the chart's objects are named after it
CLUB = "helm-fc"  # failover, upgrade, VideoJob, backup and restore
SECOND = "helm-second"  # rotated, then deleted with its data
CREDENTIALS = ("jwtSigningKey", "redisPassword", "databasePassword", "s3AccessKey", "ownerPassword")
# Small requests: the real node has two CPUs for every pod of both Clubs, and their rollouts surge.
SMALL = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
WORKLOADS = {
    "api": {"replicas": 1, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}


def _values(
    stack: StackInfo, operator_image: str, watched: str | None, runtime_image: str | None = None
) -> dict[str, Any]:
    """The chart's values: the namespaced install when `watched` is given; the clubs' pods on the
    real node from `runtime_image` when given (on the stack's kwok nodes otherwise)."""
    assert stack.node is not None
    repository, tag = operator_image.rsplit(":", 1)
    placed = real_node_settings(stack, runtime_image) if runtime_image else {}
    settings = operator_pod.settings(stack, resync_interval_sec="5", retry_delay_sec="1", **placed)
    settings.pop("CLUB_OPERATOR_METRICS_PORT")  # the chart sets it from metrics.port
    taint = stack.node.taint
    values: dict[str, Any] = {
        "image": {"repository": repository, "tag": tag},
        "settings": {"secret": settings},
        "nodeSelector": dict(stack.node.labels),
        "tolerations": [
            {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]}
        ],
    }
    if watched is not None:
        values["watchNamespaces"] = [watched]
    return values


def _operator_pods(core: k8s.CoreV1Api, home: str) -> list[k8s.V1Pod]:
    return list(core.list_namespaced_pod(home, label_selector=f"app.kubernetes.io/instance={RELEASE}").items)


def _active_pod(core: k8s.CoreV1Api, home: str) -> k8s.V1Pod | None:
    """The operator pod holding the Lease, when exactly the chart's two run and are Ready (the
    other one standing by)."""
    pods = _operator_pods(core, home)
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    if len(pods) != 2 or len(live) != 2:
        return None
    if not all(
        (statuses := p.status.container_statuses or []) and all(s.ready for s in statuses) for p in live
    ):
        return None
    coordination = k8s.CoordinationV1Api(core.api_client)
    try:
        holder = coordination.read_namespaced_lease(RELEASE, home).spec.holder_identity
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return next((p for p in live if p.metadata.name == holder), None)


def _signal_container(pod: k8s.V1Pod, sig: signal.Signals) -> None:
    """Send `sig` to the processes of the pod's container, found on this host (the real node runs
    here) by the container's cgroup."""
    (status,) = pod.status.container_statuses
    container = status.container_id.split("://", 1)[1]
    pids = {
        int(pid)
        for procs in Path("/sys/fs/cgroup/pids").rglob(f"{container}/cgroup.procs")
        for pid in procs.read_text().split()
    }
    assert pids, f"no process of container {container} found in the host's cgroups"
    for pid in pids:
        os.kill(pid, sig)


def _ready_at(club: dict[str, Any] | None, generation: int) -> bool:
    """Whether the Club is Ready with `generation` of its spec reconciled."""
    status = (club or {}).get("status") or {}
    ready = clubs.condition(club, "Ready") or {}
    return status.get("observedGeneration") == generation and ready.get("status") == "True"


def _reconciled_after(custom: k8s.CustomObjectsApi, watched: str, what: str, change: str) -> float:
    """Seconds until the Club is reconciled with its displayName changed to `change`."""
    start = time.monotonic()
    changed = crds.patch(custom, watched, "Club", CLUB, {"spec": {"displayName": change}})
    clubs.wait_for(
        what,
        lambda: _ready_at(clubs.get_club(custom, watched, CLUB), changed["metadata"]["generation"]),
        timeout=180,
        interval=0.2,
    )
    return time.monotonic() - start


def _restart_and_fail_over(
    core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, home: str, watched: str, pod: k8s.V1Pod
) -> k8s.V1Pod:
    """The active pod's process SIGKILLed: the kubelet restarts its container, which finds the Lease
    under its pod's name and resumes at once. Then the active pod frozen (SIGSTOP: it can neither
    renew nor release) and deleted, as a node that is lost: the other pod takes the Lease once it
    expires and reconciles (the seconds printed). The pod active at the end."""
    _signal_container(pod, signal.SIGKILL)
    seconds = _reconciled_after(custom, watched, "the restarted container to reconcile", "Helm FC, restarted")
    print(f"a SIGKILLed operator container restarted and reconciled in {seconds:.1f}s (same pod, same Lease)")
    statuses = core.read_namespaced_pod(pod.metadata.name, home).status.container_statuses
    assert statuses[0].restart_count >= 1
    frozen = clubs.wait_for("the active pod Ready again", lambda: _active_pod(core, home), timeout=120)
    assert frozen.metadata.name == pod.metadata.name

    _signal_container(frozen, signal.SIGSTOP)
    stopped = time.monotonic()
    core.delete_namespaced_pod(frozen.metadata.name, home, grace_period_seconds=0)
    _reconciled_after(custom, watched, "the other operator pod to reconcile the Club", "Helm FC, failed over")
    failover = time.monotonic() - stopped
    print(f"failover on the real node: {failover:.1f}s from freezing the active pod to the other's reconcile")
    taken = clubs.wait_for(
        "the other pod active, the frozen one replaced", lambda: _active_pod(core, home), timeout=180
    )
    assert taken.metadata.name != frozen.metadata.name
    return taken


def _check_permissions(
    stack: StackInfo, home: str, values: dict[str, Any], uninstalled: datetime.datetime
) -> None:
    """Every request the operator's ServiceAccount made (the API server's audit log) was granted by
    the chart's Roles or ClusterRole, in the namespaces they hold (the Lease: its Role in the
    release's namespace), and none was refused before the uninstall; the grants left unused are
    printed. `helm uninstall` deletes the RBAC while the pods stop: a request then may be refused,
    but only one the chart grants."""
    user = f"system:serviceaccount:{home}:{RELEASE}"
    log = stack.root / "logs" / kube.AUDIT_LOG
    used = audit.requests(log, user)
    assert used, "the audit log holds no request of the operator's ServiceAccount"
    installed = audit.requests(log, user, until=uninstalled)
    assert not [r for r in installed if r.denied], sorted(r for r in installed if r.denied)
    rendered = helm.objects(helm.render(values, release=RELEASE, namespace=home))
    roles = {o["metadata"]["namespace"]: audit.grants(o["rules"]) for o in rendered if o["kind"] == "Role"}
    (cluster_role,) = [o for o in rendered if o["kind"] == "ClusterRole"]
    cluster_wide, leases = audit.grants(cluster_role["rules"]), roles.pop(home)

    def granted(request: audit.Request) -> bool:
        if request.namespace == home and request.grant in leases:
            return True
        return request.grant in cluster_wide | roles.get(request.namespace or "", set())

    assert not sorted(r for r in used if not granted(r))
    late = sorted(r for r in used - installed if r.denied)
    print(f"refused while helm uninstall removed the RBAC: {late}")
    if roles:  # a namespaced install asks for nothing outside its namespaces
        assert {r.namespace for r in used} <= {*roles, home, None}
    chart = cluster_wide | leases | {g for grants in roles.values() for g in grants}
    unused = sorted(chart - {r.grant for r in used})
    print(f"{len({r.grant for r in used})} grants used; not used: {unused}")


class _ReadyWatch:
    """Every version of the namespace's Clubs that the API server sends while it runs (a watch,
    resumed from the last version seen): the versions whose Ready condition was not True."""

    def __init__(self, custom: k8s.CustomObjectsApi, namespace: str) -> None:
        self._custom, self._namespace = custom, namespace
        self.not_ready: list[tuple[str, str]] = []
        self.versions = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._version = ""
        self._relist()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _see(self, club: dict[str, Any]) -> None:
        self.versions += 1
        ready = clubs.condition(club, "Ready") or {}
        if ready.get("status") != "True":
            self.not_ready.append((club["metadata"]["name"], str(ready.get("message"))))

    def _relist(self) -> None:
        """Every Club as it is now, and the version to watch from."""
        custom, namespace = self._custom, self._namespace
        listed = custom.list_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs")
        self._version = listed["metadata"]["resourceVersion"]
        for club in listed["items"]:
            self._see(club)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                stream = k8s_watch.Watch().stream(
                    self._custom.list_namespaced_custom_object, crds.GROUP, crds.VERSION, self._namespace,
                    "clubs", resource_version=self._version, timeout_seconds=2,
                )  # fmt: skip
                try:
                    for event in stream:
                        if event["type"] == "ERROR" and event["object"].get("code") == 410:
                            raise ApiException(status=410, reason="Gone")
                        if event["type"] == "ERROR":
                            raise AssertionError(f"the watch of the Clubs ended: {event['object']}")
                        club = event["object"]
                        self._version = club["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._see(club)
                except ApiException as exc:
                    # A new CRD schema restarts the API server's storage of Clubs: the version
                    # watched from is gone (410 Gone). List again, as every informer does.
                    if exc.status != 410:
                        raise
                    self._relist()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise self.error


def _upgrade(
    stack: StackInfo,
    core: k8s.CoreV1Api,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    home: str,
    watched: str,
    values: dict[str, Any],
) -> None:
    """`helm upgrade` from the previous chart to this tree's: the Club CRD gets its Message column,
    the operator's pods roll, every Club stays Ready throughout and the new operator reconciles a
    change; the writes of the operator during the upgrade are few (no reconcile storm)."""
    ext = k8s.ApiextensionsV1Api(kube_api)

    def columns() -> list[str]:
        (served,) = ext.read_custom_resource_definition("clubs.footballclub.io").spec.versions
        return [c.name for c in served.additional_printer_columns]

    assert "Message" not in columns()  # chart 0.1.0's CRD
    before = {p.metadata.name for p in _operator_pods(core, home)}
    user = f"system:serviceaccount:{home}:{RELEASE}"
    since = datetime.datetime.now(datetime.UTC)
    watch = _ReadyWatch(custom, watched)
    try:
        helm.helm("upgrade", RELEASE, str(helm.CHART), "-n", home, *helm.value_args(values), stack=stack)
        assert "Message" in columns()
        clubs.wait_for(
            "the upgraded operator's pods Ready",
            lambda: (
                (p := _active_pod(core, home)) is not None
                and not {q.metadata.name for q in _operator_pods(core, home)} & before
                and p
            ),
            timeout=300,
        )
        # The new pod reconciles the Club: a spec change is taken up (observedGeneration) and the
        # Club is Ready under the upgraded operator.
        _reconciled_after(custom, watched, "the upgraded operator to reconcile the Club", "Helm FC, upgraded")
        until = datetime.datetime.now(datetime.UTC)
    finally:
        watch.stop()
    assert watch.versions > 2
    assert not watch.not_ready, watch.not_ready  # every Club Ready in every version seen
    writes = audit.writes(stack.root / "logs" / kube.AUDIT_LOG, user, since, until)
    counted = collections.Counter(f"{w.resource} {w.name}" for w in writes)
    print(f"the operator's writes while it was upgraded ({len(writes)}): {dict(counted)}")
    # No storm: each object written at most once by each pod that took the Lease over during the
    # rolling update (two at most), and the changed Club's status once more.
    assert all(n <= 3 for n in counted.values()), counted
    table = helm.kubectl(stack, "get", "clubs", "-n", watched, "-o", "wide").stdout
    print(table)
    assert "MESSAGE" in table.splitlines()[0]


def _video_job(
    stack: StackInfo, core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, watched: str, tmp: Path
) -> None:
    """A VideoJob on the club's video worker pod (on the real node) ends Succeeded, its HLS
    ladder in the club's bucket."""
    assert stack.node is not None
    bucket = clubs.ready_status(custom, watched, CLUB)["bucket"]
    source = tmp / "match.mp4"
    sample_video.generate(source, 4, preset="ultrafast")
    stack.minio.client().upload_file(str(source), bucket, "uploads/match.mp4")
    spec = {
        "clubRef": {"name": CLUB},
        "source": {"key": "uploads/match.mp4"},
        "outputs": {"renditions": ["360p"]},
    }
    crds.create(custom, watched, crds.manifest("VideoJob", spec, "helm-match"))
    done = videojobs.wait_phase(custom, watched, "helm-match", "Succeeded", timeout=600)
    print(f"VideoJob Succeeded: {done}")
    workers = core.list_namespaced_pod(
        watched, label_selector="app.kubernetes.io/component=worker-video"
    ).items
    assert workers
    assert all(p.spec.node_name == stack.node.name for p in workers)
    keys = {o["Key"] for o in stack.minio.client().list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert any(k.endswith("master.m3u8") for k in keys), sorted(keys)[:20]


def _backup_and_restore(custom: k8s.CustomObjectsApi, watched: str) -> None:
    """The Club's backup-now annotation: a ClubBackup whose Job runs on the real node, Succeeded and
    verified by the operator; a ClubRestore rolls the Club back to it (after a safety backup),
    and the Club is Ready again."""
    crds.patch(
        custom, watched, "Club", CLUB, {"metadata": {"annotations": {"footballclub.io/backup-now": "helm"}}}
    )
    backup = f"{CLUB}-helm"

    def verified() -> dict[str, Any] | None:
        status = (clubs.get_object(custom, watched, "clubbackups", backup) or {}).get("status") or {}
        assert status.get("phase") != "Failed", status
        return status if status.get("phase") == "Succeeded" and status.get("verified") is True else None

    clubs.wait_for(f"ClubBackup {backup} Succeeded and verified", verified, timeout=300)
    body = crds.manifest(
        "ClubRestore", {"clubRef": {"name": CLUB}, "backupRef": {"name": backup}}, "helm-restore"
    )
    crds.create(custom, watched, body)

    def restored() -> dict[str, Any] | None:
        status = (clubs.get_object(custom, watched, "clubrestores", "helm-restore") or {}).get("status") or {}
        assert status.get("phase") != "Failed", status
        return status if status.get("phase") == "Succeeded" else None

    done = clubs.wait_for("the ClubRestore Succeeded", restored, timeout=400)
    print(f"ClubRestore Succeeded: {done}")
    clubs.ready_status(custom, watched, CLUB, timeout=300)


def _rotated(custom: k8s.CustomObjectsApi, watched: str) -> bool:
    """Every credential of the second Club took up the rotation and every pod runs with it."""
    for credential in CREDENTIALS:
        found = rotation.record(custom, watched, SECOND, credential)
        if found.get("request") != "helm" or found.get("phase") not in ("Propagated", "Revoked"):
            return False
    return True


def _make_clubs(custom: k8s.CustomObjectsApi, watched: str, elsewhere: str) -> dict[str, Any]:
    """The two Clubs Ready in the watched namespace, and one elsewhere left alone: the first Club's
    status."""
    # A Club outside the watched namespace, made first: by the time the watched ones are Ready,
    # it is still untouched (no finalizer, no status); the operator cannot even read it.
    clubs.create_club(custom, elsewhere, crds.manifest("Club", {"displayName": "Elsewhere"}, CLUB))
    spec = {
        "displayName": "Helm FC",
        **WORKLOADS,
        "workers": {**WORKLOADS["workers"], "video": {"minReplicas": 1, "resources": SMALL}},
    }
    clubs.create_club(custom, watched, crds.manifest("Club", spec, CLUB))
    second = {
        "displayName": "Helm Second",
        **WORKLOADS,
        "deletionPolicy": "Delete",
        "secrets": {"rotation": {"overlap": "20s"}},
    }
    clubs.create_club(custom, watched, crds.manifest("Club", second, SECOND))
    status = clubs.ready_status(custom, watched, CLUB, timeout=300)
    clubs.ready_status(custom, watched, SECOND, timeout=300)
    ignored = clubs.get_club(custom, elsewhere, CLUB)
    assert ignored is not None
    assert not ignored["metadata"].get("finalizers")
    assert "status" not in ignored

    return status


def _every_feature(
    stack: StackInfo, core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, watched: str, tmp: Path
) -> None:
    """A VideoJob, a backup and a restore of the first Club while the second one rotates every
    credential; then the second one deleted with its data (deletionPolicy Delete)."""
    rotation.request(custom, watched, SECOND, "helm")
    _video_job(stack, core, custom, watched, tmp)
    _backup_and_restore(custom, watched)
    clubs.wait_for(
        "the second Club's credentials rotated",
        lambda: _rotated(custom, watched),
        timeout=600,
        interval=2,
    )
    custom.delete_namespaced_custom_object(crds.GROUP, crds.VERSION, watched, "clubs", SECOND)
    clubs.wait_gone(custom, watched, SECOND, timeout=180)


@pytest.fixture
def namespaces(kube_api: k8s.ApiClient) -> Iterator[tuple[str, str, str]]:
    """(the release's namespace, the namespace the operator watches, one it does not); deleted
    afterwards, the Clubs first (their operator is gone by then, so their finalizers are taken off
    by hand)."""
    core = k8s.CoreV1Api(kube_api)
    home, watched, elsewhere = (f"helm-{uuid.uuid4().hex[:10]}" for _ in range(3))
    for name in (home, watched, elsewhere):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield home, watched, elsewhere
    custom = k8s.CustomObjectsApi(kube_api)
    for namespace in (watched, elsewhere):
        for club in custom.list_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs")[
            "items"
        ]:
            try:
                crds.patch(
                    custom, namespace, "Club", club["metadata"]["name"], {"metadata": {"finalizers": None}}
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
    for name in (watched, elsewhere, home):
        core.delete_namespace(name, propagation_policy="Background")


def _print_logs(core: k8s.CoreV1Api, home: str) -> None:
    for running in core.list_namespaced_pod(home).items:  # shown by pytest with the failure
        print(f"--- {running.metadata.name}:\n{core.read_namespaced_pod_log(running.metadata.name, home)}")


def test_upgrade_from_the_previous_chart_every_feature_and_uninstall_keep_the_clubs(
    stack: StackInfo,
    node_images: images.Images,
    namespaces: tuple[str, str, str],
    kube_api: k8s.ApiClient,
    tmp_path: Path,
) -> None:
    assert stack.node is not None
    home, watched, elsewhere = namespaces
    core, custom = k8s.CoreV1Api(kube_api), k8s.CustomObjectsApi(kube_api)
    values = _values(stack, node_images.operator, watched, node_images.runtime)
    previous = helm.previous_chart(tmp_path)
    # --take-ownership: this stack's other tests applied the CRDs with kubectl before.
    helm.helm(
        "install",
        RELEASE,
        str(previous),
        "-n",
        home,
        "--take-ownership",
        *helm.value_args(values),
        stack=stack,
    )
    try:
        pod = clubs.wait_for("the operator's pods Ready", lambda: _active_pod(core, home), timeout=240)
        assert pod.spec.node_name == stack.node.name
        assert pod.spec.service_account_name == RELEASE

        status = _make_clubs(custom, watched, elsewhere)

        pod = _restart_and_fail_over(core, custom, home, watched, pod)
        _upgrade(stack, core, custom, kube_api, home, watched, values)

        _every_feature(stack, core, custom, watched, tmp_path)

        active = clubs.wait_for("an active operator pod", lambda: _active_pod(core, home), timeout=60)
        log = core.read_namespaced_pod_log(active.metadata.name, home)
        for refused in ("Forbidden", "Not enough permissions"):
            assert refused not in log  # the chart's Roles grant what it uses
        for secret in (stack.postgres.password, stack.minio.secret_key):
            assert secret not in log
    except BaseException:
        _print_logs(core, home)
        raise
    finally:
        uninstalled = datetime.datetime.now(datetime.UTC)
        helm.helm("uninstall", RELEASE, "-n", home, "--wait", stack=stack)

    _check_permissions(stack, home, values, uninstalled)
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    assert not [r for r in rbac.list_cluster_role().items if r.metadata.name.startswith(f"{RELEASE}-{home}")]
    clubs.wait_for(
        "the operator's pod gone",
        lambda: (
            not core.list_namespaced_pod(home, label_selector=f"app.kubernetes.io/instance={RELEASE}").items
        ),
        timeout=120,
    )
    ext = k8s.ApiextensionsV1Api(kube_api)
    for name in ("clubs", "videojobs", "clubbackups", "clubrestores"):
        ext.read_custom_resource_definition(f"{name}.footballclub.io")  # kept
    assert clubs.get_club(custom, watched, CLUB) is not None
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (status["databaseRole"],)).fetchone()
        database = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (status["databaseName"],)
        ).fetchone()
    assert role is not None
    assert database is not None
    stack.minio.client().head_bucket(Bucket=status["bucket"])


def test_a_cluster_wide_install_reconciles_a_club_in_any_namespace(
    stack: StackInfo,
    node_images: images.Images,
    namespaces: tuple[str, str, str],
    kube_api: k8s.ApiClient,
) -> None:
    """The default install: one ClusterRole, no Role in the Club's namespace, which the operator was
    never told about; the Club Ready (its pods on the stack's kwok nodes) and nothing denied."""
    home, _, anywhere = namespaces
    core, custom = k8s.CoreV1Api(kube_api), k8s.CustomObjectsApi(kube_api)
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    values = _values(stack, node_images.operator, None)
    helm.helm(
        "install",
        RELEASE,
        str(helm.CHART),
        "-n",
        home,
        "--take-ownership",
        *helm.value_args(values),
        stack=stack,
    )
    try:
        clubs.wait_for("the operator's pods Ready", lambda: _active_pod(core, home), timeout=240)
        assert not rbac.list_namespaced_role(anywhere).items
        bound = rbac.read_cluster_role_binding(f"{RELEASE}-{home}")
        assert [(s.name, s.namespace) for s in bound.subjects] == [(RELEASE, home)]
        clubs.create_club(custom, anywhere, crds.manifest("Club", {"displayName": "Anywhere"}, CLUB))
        clubs.ready_status(custom, anywhere, CLUB, timeout=240)
    except BaseException:
        _print_logs(core, home)
        raise
    finally:
        uninstalled = datetime.datetime.now(datetime.UTC)
        helm.helm("uninstall", RELEASE, "-n", home, "--wait", stack=stack)
    _check_permissions(stack, home, values, uninstalled)
