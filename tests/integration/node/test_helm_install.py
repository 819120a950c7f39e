"""`helm install` of charts/club-operator runs the operator image as a pod on the real node with the
chart's ServiceAccount and Roles (a namespaced install: watchNamespaces), reconciles a Club to Ready
and leaves a Club of another namespace alone, keeps the Club Ready through `helm upgrade` (the new
operator pod reconciles a change), and `helm uninstall` leaves the CRDs, the Club and its database
role and bucket in place. The API server's audit log then shows every request of the operator's
ServiceAccount granted by the chart and none denied.

One install flow, kept small: the images are the ones test_operator_pod.py builds (shared registry
storage), and the Club takes the defaults."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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


def _operator_pod(core: k8s.CoreV1Api, home: str) -> k8s.V1Pod | None:
    """The operator's pod when exactly one runs and is Ready."""
    pods = core.list_namespaced_pod(home, label_selector=f"app.kubernetes.io/instance={RELEASE}").items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    if len(pods) != 1 or len(live) != 1:
        return None
    statuses = live[0].status.container_statuses or []
    return live[0] if statuses and all(s.ready for s in statuses) else None


def _check_permissions_used(stack: StackInfo, home: str, watched: str) -> None:
    """Every request the operator's ServiceAccount made (the API server's audit log) was granted by
    the chart's Role in the watched namespace or its ClusterRole, and none was denied; the grants
    this flow did not use are printed (it runs no backup, restore, rotation or VideoJob)."""
    used = audit.requests(stack.root / "logs" / kube.AUDIT_LOG, f"system:serviceaccount:{home}:{RELEASE}")
    assert used, "the audit log holds no request of the operator's ServiceAccount"
    assert not [r for r in used if r.code == 403], sorted(r for r in used if r.code == 403)
    rendered = helm.objects(helm.render(_values(stack, "x:y", watched), release=RELEASE, namespace=home))
    (role,) = [o for o in rendered if o["kind"] == "Role"]
    (cluster_role,) = [o for o in rendered if o["kind"] == "ClusterRole"]
    in_namespace, cluster_wide = audit.grants(role["rules"]), audit.grants(cluster_role["rules"])
    assert {r.namespace for r in used} <= {watched, None}
    assert not [r for r in used if r.namespace is None and r.grant not in cluster_wide]
    assert not [r for r in used if r.namespace == watched and r.grant not in in_namespace | cluster_wide]
    unused = sorted((in_namespace | cluster_wide) - {r.grant for r in used})
    print(f"{len({r.grant for r in used})} grants used, not used by this flow: {unused}")


def _ready_at(club: dict[str, Any] | None, generation: int) -> bool:
    """Whether the Club is Ready with `generation` of its spec reconciled."""
    status = (club or {}).get("status") or {}
    ready = clubs.condition(club, "Ready") or {}
    return status.get("observedGeneration") == generation and ready.get("status") == "True"


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
        pod = clubs.wait_for("the operator's pod Ready", lambda: _operator_pod(core, home), timeout=240)
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

        helm.helm("upgrade", RELEASE, str(helm.CHART), "-n", home, "--reuse-values",
                  "--set-json", 'podAnnotations={"example.com/upgraded": "1"}', stack=stack)  # fmt: skip
        upgraded = clubs.wait_for(
            "the upgraded operator's pod Ready",
            lambda: (
                (p := _operator_pod(core, home)) is not None and p.metadata.name != pod.metadata.name and p
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
        helm.helm("uninstall", RELEASE, "-n", home, "--wait", stack=stack)

    _check_permissions_used(stack, home, watched)
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
