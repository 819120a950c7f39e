"""metrics-server in the stack (Stack.start(metrics_server=True)): the resource metrics API that CPU
HPAs read, served through the API server's aggregation layer from the real node's kubelet. The stack
is this module's own; without a real node on this machine the test is skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from club_devstack import node
from club_devstack.stack import Stack, StackInfo
from tests.support import clubs


@pytest.fixture(scope="module")
def metrics_stack() -> Iterator[StackInfo]:
    missing = node.missing_prerequisites()
    if missing:
        pytest.skip(f"this machine cannot run the real node: {', '.join(missing)}")
    with Stack.start(metrics_server=True, node=True) as started:
        yield started.info


def test_the_real_nodes_usage_is_served_as_resource_metrics(metrics_stack: StackInfo) -> None:
    assert metrics_stack.node is not None
    api = k8s_config.new_client_from_config(config_file=str(metrics_stack.kube.kubeconfig))
    custom = k8s.CustomObjectsApi(api)

    def usage() -> dict[str, Any] | None:
        try:
            found = custom.get_cluster_custom_object(
                "metrics.k8s.io", "v1beta1", "nodes", metrics_stack.node.name
            )
        except ApiException as exc:
            if exc.status == 404:  # no scrape yet (the first one comes after one resolution, 15 s)
                return None
            raise
        return dict(found["usage"])

    found = clubs.wait_for("the real node's usage in metrics.k8s.io", usage, timeout=120)
    assert set(found) >= {"cpu", "memory"}
    listed = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    # kwok's nodes have no kubelet to scrape: only the real node's pool is listed.
    assert [n["metadata"]["name"] for n in listed["items"]] == [metrics_stack.node.name]
