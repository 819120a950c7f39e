"""`helm install` of charts/club-operator runs the operator image as two pods on the real node with
the chart's ServiceAccount and Roles (a namespaced install: watchNamespaces), the one holding the
Lease reconciles a Club to Ready and leaves a Club of another namespace alone; its process
SIGKILLed, its container restarts and resumes; frozen and deleted, the other pod takes over (the
seconds to its first reconcile are printed); the Club stays Ready
through `helm upgrade` (the new pods roll in, one of them reconciles a change), and `helm uninstall`
leaves the CRDs, the Club and its database role and bucket in place. The API server's audit log
then shows every request of the operator's ServiceAccount granted by the chart and none denied.

One install flow, kept small: the images are the ones test_operator_pod.py builds (shared registry
storage), and the Club takes the defaults."""

from __future__ import annotations

import datetime
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from club_devstack import images, kube, operator_pod
from club_devstack.stack import StackInfo
from tests.support import audit, clubs, crds, helm

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)

RELEASE = "club-operator"  # the chart's objects are named after it
CLUB = "helm-fc"


def _values(stack: StackInfo, operator_image: str, watched: str) -> dict[str, Any]:
    assert stack.node is not None
    repository, tag = operator_image.rsplit(":", 1)
    settings = operator_pod.settings(stack, resync_interval_sec="5", retry_delay_sec="1")
    settings.pop("CLUB_OPERATOR_METRICS_PORT")  # the chart sets it from metrics.port
    taint = stack.node.taint
    return {
        "image": {"repository": repository, "tag": tag},
        "watchNamespaces": [watched],
        "settings": {"secret": settings},
        "nodeSelector": dict(stack.node.labels),
        "tolerations": [
            {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]}
        ],
    }


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


def _check_permissions_used(
    stack: StackInfo, home: str, watched: str, uninstalled: datetime.datetime
) -> None:
    """Every request the operator's ServiceAccount made (the API server's audit log) was granted by
    the chart's Role in the watched namespace or its ClusterRole (the Lease: its Role in the
    release's namespace), and none was denied before the uninstall; the grants this flow did not use
    are printed (it runs no backup, restore, rotation or VideoJob). `helm uninstall` deletes the
    Roles while the pods stop: a request then may be refused, but only one the chart grants."""
    user = f"system:serviceaccount:{home}:{RELEASE}"
    used = audit.requests(stack.root / "logs" / kube.AUDIT_LOG, user)
    assert used, "the audit log holds no request of the operator's ServiceAccount"
    installed = audit.requests(stack.root / "logs" / kube.AUDIT_LOG, user, until=uninstalled)
    assert not [r for r in installed if r.code == 403], sorted(r for r in installed if r.code == 403)
    rendered = helm.objects(helm.render(_values(stack, "x:y", watched), release=RELEASE, namespace=home))
    roles = {o["metadata"]["namespace"]: o for o in rendered if o["kind"] == "Role"}
    (cluster_role,) = [o for o in rendered if o["kind"] == "ClusterRole"]
    in_namespace, cluster_wide = audit.grants(roles[watched]["rules"]), audit.grants(cluster_role["rules"])
    leases = audit.grants(roles[home]["rules"])  # leader election, in the release's namespace
    assert {r.namespace for r in used} <= {watched, home, None}
    assert not [r for r in used if r.namespace is None and r.grant not in cluster_wide]
    assert not [r for r in used if r.namespace == watched and r.grant not in in_namespace | cluster_wide]
    assert not [r for r in used if r.namespace == home and r.grant not in leases]
    late = sorted(r for r in used - installed if r.code == 403)
    assert not [r for r in late if r.grant not in in_namespace | cluster_wide | leases], late
    print(f"refused while helm uninstall removed the Roles: {late}")
    unused = sorted((in_namespace | cluster_wide | leases) - {r.grant for r in used})
    print(f"{len({r.grant for r in used})} grants used, not used by this flow: {unused}")


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


@pytest.fixture
def namespaces(kube_api: k8s.ApiClient) -> Iterator[tuple[str, str, str]]:
    """(the release's namespace, the namespace the operator watches, one it does not); deleted
    afterwards, the Club first (its operator is gone by then, so its finalizer is taken off by hand)."""
    core = k8s.CoreV1Api(kube_api)
    home, watched, elsewhere = (f"helm-{uuid.uuid4().hex[:10]}" for _ in range(3))
    for name in (home, watched, elsewhere):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield home, watched, elsewhere
    custom = k8s.CustomObjectsApi(kube_api)
    try:
        crds.patch(custom, watched, "Club", CLUB, {"metadata": {"finalizers": None}})
    except ApiException as exc:
        if exc.status != 404:
            raise
    for name in (watched, elsewhere, home):
        core.delete_namespace(name, propagation_policy="Background")


def test_install_upgrade_uninstall_keeps_the_club_and_its_data(
    stack: StackInfo,
    node_images: images.Images,
    namespaces: tuple[str, str, str],
    kube_api: k8s.ApiClient,
) -> None:
    assert stack.node is not None
    home, watched, elsewhere = namespaces
    core, custom = k8s.CoreV1Api(kube_api), k8s.CustomObjectsApi(kube_api)
    values = helm.value_args(_values(stack, node_images.operator, watched))
    # --take-ownership: this stack's other tests applied the CRDs with kubectl before.
    helm.helm("install", RELEASE, str(helm.CHART), "-n", home, "--take-ownership", *values, stack=stack)
    try:
        pod = clubs.wait_for("the operator's pods Ready", lambda: _active_pod(core, home), timeout=240)
        assert pod.spec.node_name == stack.node.name
        assert pod.spec.service_account_name == RELEASE

        # A Club outside the watched namespace, made first: by the time the watched one is Ready,
        # it is still untouched (no finalizer, no status); the operator cannot even read it.
        clubs.create_club(custom, elsewhere, crds.manifest("Club", {"displayName": "Elsewhere"}, CLUB))
        clubs.create_club(custom, watched, crds.manifest("Club", {"displayName": "Helm FC"}, CLUB))
        status = clubs.ready_status(custom, watched, CLUB, timeout=240)
        ignored = clubs.get_club(custom, elsewhere, CLUB)
        assert ignored is not None
        assert not ignored["metadata"].get("finalizers")
        assert "status" not in ignored

        pod = _restart_and_fail_over(core, custom, home, watched, pod)
        before = {p.metadata.name for p in _operator_pods(core, home)}

        helm.helm("upgrade", RELEASE, str(helm.CHART), "-n", home, "--reuse-values",
                  "--set-json", 'podAnnotations={"example.com/upgraded": "1"}', stack=stack)  # fmt: skip
        upgraded = clubs.wait_for(
            "the upgraded operator's pods Ready",
            lambda: (
                (p := _active_pod(core, home)) is not None
                and not {q.metadata.name for q in _operator_pods(core, home)} & before
                and p
            ),
            timeout=240,
        )
        # The new pod reconciles the Club: a spec change is taken up (observedGeneration) and the
        # Club is Ready under the upgraded operator.
        changed = crds.patch(custom, watched, "Club", CLUB, {"spec": {"displayName": "Helm FC, upgraded"}})
        clubs.wait_for(
            "the upgraded operator to reconcile the Club to Ready",
            lambda: _ready_at(clubs.get_club(custom, watched, CLUB), changed["metadata"]["generation"]),
            timeout=180,
        )
        log = core.read_namespaced_pod_log(upgraded.metadata.name, home)
        for refused in ("Forbidden", "Not enough permissions"):
            assert refused not in log  # the chart's Roles grant what it uses
        for secret in (stack.postgres.password, stack.minio.secret_key):
            assert secret not in log
    except BaseException:
        for running in core.list_namespaced_pod(home).items:  # shown by pytest with the failure
            print(
                f"--- {running.metadata.name}:\n{core.read_namespaced_pod_log(running.metadata.name, home)}"
            )
        raise
    finally:
        uninstalled = datetime.datetime.now(datetime.UTC)
        helm.helm("uninstall", RELEASE, "-n", home, "--wait", stack=stack)

    _check_permissions_used(stack, home, watched, uninstalled)
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
