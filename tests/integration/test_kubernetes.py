"""The local control plane behaves like a real cluster: the real scheduler honours GPU resources,
taints and node selectors on kwok's nodes, and the real API server validates custom resources."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from club_devstack import nodes, tools
from club_devstack.stack import StackInfo
from tests.conftest import unique_name

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _deployment(name: str, *, replicas: int, gpu: bool, tolerate: bool, select_gpu: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "example.invalid/app:1"}
    if gpu:
        container["resources"] = {"limits": {nodes.GPU_RESOURCE: "1"}}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if tolerate:
        pod_spec["tolerations"] = [GPU_TOLERATION]
    if select_gpu:
        pod_spec["nodeSelector"] = {nodes.GPU_LABEL: "true"}
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _pods(core: k8s.CoreV1Api, namespace: str, app: str) -> list[k8s.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"app={app}").items)


def _wait_pods(core: k8s.CoreV1Api, namespace: str, app: str, count: int, phase: str) -> list[k8s.V1Pod]:
    deadline = time.monotonic() + 90
    pods: list[k8s.V1Pod] = []
    while time.monotonic() < deadline:
        pods = _pods(core, namespace, app)
        if len(pods) == count and all(p.status.phase == phase for p in pods):
            return pods
        time.sleep(0.5)
    states = [(p.metadata.name, p.status.phase, p.spec.node_name) for p in pods]
    raise AssertionError(f"expected {count} {phase} pods of {app}, got {states}")


def test_api_server_reports_the_pinned_version(stack: StackInfo, kube_api: k8s.ApiClient) -> None:
    version = k8s.VersionApi(kube_api).get_code()
    assert version.git_version == tools.pinned_versions()["KUBERNETES_VERSION"]
    assert stack.kube.version == version.git_version


def test_kwok_nodes_are_ready_and_the_gpu_node_is_tainted(kube_api: k8s.ApiClient) -> None:
    # kwok's nodes only: the stack's real node (tests/integration/test_node.py) is no kwok node.
    kwok_nodes = k8s.CoreV1Api(kube_api).list_node(label_selector=nodes.KWOK_LABEL).items
    listed = {n.metadata.name: n for n in kwok_nodes}
    assert set(listed) == {*nodes.CPU_NODES, *nodes.GPU_NODES}
    for node in listed.values():
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert [c.status for c in ready] == ["True"], node.metadata.name
    gpu = listed[nodes.GPU_NODES[0]]
    assert gpu.status.allocatable[nodes.GPU_RESOURCE] == "1"
    assert [(t.key, t.effect) for t in gpu.spec.taints] == [("nvidia.com/gpu", "NoSchedule")]


def test_gpu_pods_are_scheduled_on_the_gpu_node_and_run(kube_api: k8s.ApiClient, namespace: str) -> None:
    name = unique_name("video-worker")
    body = _deployment(name, replicas=1, gpu=True, tolerate=True, select_gpu=True)
    k8s.AppsV1Api(kube_api).create_namespaced_deployment(namespace, body)
    (pod,) = _wait_pods(k8s.CoreV1Api(kube_api), namespace, name, 1, "Running")
    assert pod.spec.node_name == nodes.GPU_NODES[0]


def test_pods_without_the_toleration_never_land_on_the_gpu_node(
    kube_api: k8s.ApiClient, namespace: str
) -> None:
    core = k8s.CoreV1Api(kube_api)
    apps = k8s.AppsV1Api(kube_api)
    name = unique_name("api")
    apps.create_namespaced_deployment(
        namespace, _deployment(name, replicas=6, gpu=False, tolerate=False, select_gpu=False)
    )
    pods = _wait_pods(core, namespace, name, 6, "Running")
    assert {p.spec.node_name for p in pods} <= set(nodes.CPU_NODES)

    # Asking for a GPU without tolerating the taint leaves the pod unschedulable, with the reason.
    greedy = unique_name("greedy")
    apps.create_namespaced_deployment(
        namespace, _deployment(greedy, replicas=1, gpu=True, tolerate=False, select_gpu=False)
    )
    (pod,) = _wait_pods(core, namespace, greedy, 1, "Pending")
    deadline = time.monotonic() + 60
    message = ""
    while time.monotonic() < deadline and "untolerated taint" not in message:
        pod = core.read_namespaced_pod(pod.metadata.name, namespace)
        scheduled = [c for c in pod.status.conditions or [] if c.type == "PodScheduled"]
        message = scheduled[0].message or "" if scheduled else ""
        time.sleep(0.5)
    assert pod.spec.node_name is None
    assert "untolerated taint" in message
    assert "Insufficient nvidia.com/gpu" in message


def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"kits.{group}"},
        "spec": {
            "group": group,
            "names": {"plural": "kits", "singular": "kit", "kind": "Kit"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["colour"],
                                    "properties": {
                                        "colour": {"type": "string", "enum": ["home", "away"]},
                                        "shirts": {"type": "integer", "minimum": 11},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_api_server_rejects_an_invalid_custom_resource_naming_the_field(
    kube_api: k8s.ApiClient, namespace: str
) -> None:
    group = f"{unique_name('g')}.test.footballclub.io"
    ext = k8s.ApiextensionsV1Api(kube_api)
    crd = ext.create_custom_resource_definition(_crd(group))
    try:
        custom = k8s.CustomObjectsApi(kube_api)
        deadline = time.monotonic() + 30
        while True:
            status = ext.read_custom_resource_definition(crd.metadata.name).status
            if any(c.type == "Established" and c.status == "True" for c in status.conditions or []):
                break
            assert time.monotonic() < deadline, "CRD never became Established"
            time.sleep(0.2)

        def create(spec: dict[str, Any]) -> Any:
            body = {
                "apiVersion": f"{group}/v1",
                "kind": "Kit",
                "metadata": {"name": unique_name("k")},
                "spec": spec,
            }
            return custom.create_namespaced_custom_object(group, "v1", namespace, "kits", body)

        assert create({"colour": "home", "shirts": 22})["spec"]["colour"] == "home"
        with pytest.raises(ApiException) as bad:
            create({"colour": "purple", "shirts": 3})
        assert bad.value.status == 422
        status = json.loads(bad.value.body)
        assert 'spec.colour: Unsupported value: "purple"' in status["message"]
        assert (
            "spec.shirts: Invalid value: 3: spec.shirts in body should be greater than or equal to 11"
            in (status["message"])
        )
        assert {c["field"] for c in status["details"]["causes"]} == {"spec.colour", "spec.shirts"}
    finally:
        ext.delete_custom_resource_definition(crd.metadata.name)
