"""Fixtures for the tests on the real node whose Clubs are reconciled by an operator of the test's own
(its settings, its servers, or the operator image as a pod): they run against a stack of their own,
so that the session's operator (tests/integration/operator), which watches every namespace, never
reconciles their Clubs too. The stack's registry storage is shared, so the images are built once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from club_devstack import images, node
from club_devstack.stack import Stack, StackInfo
from tests.support import crds


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """A stack with its real node, for this folder's tests only; its API server writes an audit log
    of the service accounts' requests (test_helm_install.py checks the chart's RBAC with it)."""
    with Stack.start(node=True, audit=True) as started:
        yield started.info


@pytest.fixture(scope="session")
def kube_api(stack: StackInfo) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(stack.kube.kubeconfig))


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    """The custom objects API, with the project's CRDs installed."""
    crds.install_crds(kube_api)
    return k8s.CustomObjectsApi(kube_api)


@pytest.fixture(scope="session")
def node_images(stack: StackInfo) -> images.Images:
    """The runtime and operator images in the stack's registry (built on a first run)."""
    if stack.node is None:
        why = ", ".join(node.missing_prerequisites()) or "see its log"
        pytest.fail(f"the stack runs no real node: {why}")
    return images.ensure_images(stack)


@pytest.fixture
def runtime_image(node_images: images.Images) -> str:
    return node_images.runtime


@pytest.fixture
def node_namespace(kube_api: k8s.ApiClient) -> Iterator[str]:
    """A namespace of this test's own, deleted afterwards."""
    core = k8s.CoreV1Api(kube_api)
    name = f"node-{uuid.uuid4().hex[:10]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")
