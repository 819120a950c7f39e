"""The e2e suite's cluster: the one the environment describes (tests/support/e2e_cluster.py; `make
kind-e2e` sets it for kind), else the local stack with its real node, the images built and pushed to
its registry. The same tests run on either."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from club_devstack import images, node, operator_pod
from club_devstack.stack import Stack, StackInfo
from tests.support import crds, e2e_cluster, in_cluster
from tests.support.e2e_cluster import Cluster


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """Without CLUB_E2E_KUBECONFIG: a local stack of the suite's own, where no other operator runs
    (the integration tests' session operator watches every namespace of theirs)."""
    with Stack.start(node=True) as started:
        yield started.info


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    described = e2e_cluster.from_environment(os.environ)
    if described is not None:
        return described
    stack = request.getfixturevalue("stack")
    if stack.node is None:
        why = ", ".join(node.missing_prerequisites()) or "see its log"
        pytest.fail(f"no CLUB_E2E_KUBECONFIG, and the local stack runs no real node: {why}")
    built = images.ensure_images(stack)
    return e2e_cluster.from_stack(
        stack.kube.kubeconfig,
        built.runtime,
        built.operator,
        operator_pod.settings(stack),
        stack.node.labels,
        stack.node.taint,
    )


@pytest.fixture(scope="session")
def cluster_api(cluster: Cluster) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="module")
def club_namespace(cluster: Cluster, cluster_api: k8s.ApiClient) -> Iterator[str]:
    """A namespace for the module's Clubs, watched by the operator image running as a pod in a
    namespace of its own; the CRDs installed. Both namespaces are deleted afterwards."""
    crds.install_crds(cluster_api)
    core = k8s.CoreV1Api(cluster_api)
    suffix = uuid.uuid4().hex[:8]
    home, watched = f"{cluster.namespace_prefix}-op-{suffix}", f"{cluster.namespace_prefix}-{suffix}"
    for name in (home, watched):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    try:
        with in_cluster.operator(cluster, cluster_api, watched, home):
            try:
                yield watched
            finally:
                # While the operator runs: it removes the finalizers of whatever a test left there.
                in_cluster.delete_namespace(core, watched)
    finally:
        in_cluster.delete_namespace(core, watched, wait=False)
        in_cluster.delete_namespace(core, home, wait=False)
