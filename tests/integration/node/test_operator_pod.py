"""The operator image runs the operator as a pod on the real node, with its service account's
in-cluster credentials (no kubeconfig), and reconciles a Club to Ready and deletes it cleanly.

This folder's stack runs no other operator (conftest.py), so the pod's operator is the only one
that sees this test's Club."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from club_devstack import images, operator_pod
from club_devstack.stack import StackInfo
from tests.support import clubs, crds

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)


def _namespace(core: k8s.CoreV1Api) -> str:
    name = f"node-{uuid.uuid4().hex[:10]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    return name


@pytest.fixture
def in_cluster(
    stack: StackInfo, node_images: images.Images, custom: k8s.CustomObjectsApi, kube_api: k8s.ApiClient
) -> Iterator[tuple[str, str]]:
    """(the operator's namespace, the namespace it watches), with the operator's pod Ready."""
    assert stack.node is not None
    core, apps = k8s.CoreV1Api(kube_api), k8s.AppsV1Api(kube_api)
    home, watched = _namespace(core), _namespace(core)
    taint = stack.node.taint
    objects = operator_pod.manifests(
        home,
        node_images.operator,
        operator_pod.settings(stack, resync_interval_sec="5", retry_delay_sec="1"),
        watch=[watched],
        node_selector=stack.node.labels,
        tolerations=[
            {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]}
        ],
    )
    operator_pod.deploy(stack, objects)
    clubs.wait_for(
        "the operator's pod Ready",
        lambda: (apps.read_namespaced_deployment(operator_pod.NAME, home).status.ready_replicas or 0) == 1,
        timeout=240,
    )
    yield home, watched
    core.delete_namespace(watched)
    core.delete_namespace(home)
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    rbac.delete_cluster_role_binding(f"{operator_pod.NAME}-{home}")
    rbac.delete_cluster_role(f"{operator_pod.NAME}-{home}")


def test_the_operator_image_runs_in_a_pod_and_reconciles_a_club(
    stack: StackInfo,
    in_cluster: tuple[str, str],
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
) -> None:
    assert stack.node is not None
    home, watched = in_cluster
    core = k8s.CoreV1Api(kube_api)
    (pod,) = core.list_namespaced_pod(
        home, label_selector=f"app.kubernetes.io/name={operator_pod.NAME}"
    ).items
    assert pod.spec.node_name == stack.node.name
    assert pod.spec.service_account_name == operator_pod.NAME
    (container,) = pod.status.container_statuses
    assert container.ready

    clubs.create_club(custom, watched, crds.manifest("Club", {"displayName": "In Cluster"}, "incluster-fc"))
    status = clubs.ready_status(custom, watched, "incluster-fc", timeout=240)
    assert status["databaseRole"]
    assert status["bucket"]
    assert {d.metadata.name for d in k8s.AppsV1Api(kube_api).list_namespaced_deployment(watched).items} == {
        "incluster-fc-api",
        "incluster-fc-worker-default",
        "incluster-fc-worker-video",
    }

    clubs.delete_club(custom, watched, "incluster-fc")  # its finalizer ran in the pod
    log = core.read_namespaced_pod_log(pod.metadata.name, home)
    assert "incluster-fc" in log
    for secret in (stack.postgres.password, stack.minio.secret_key):
        assert secret not in log
    # Its ClusterRole (operator_pod.RULES) lets it watch and write every kind it handles.
    for refused in ("Forbidden", "Not enough permissions"):
        assert refused not in log
    assert core.read_namespaced_pod(pod.metadata.name, home).status.container_statuses[0].restart_count == 0
