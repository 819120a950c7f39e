"""The fake nodes kwok runs: two CPU nodes and one GPU node, as a cloud GPU pool would look."""

from __future__ import annotations

from typing import Any

KWOK_LABEL = "type=kwok"
GPU_LABEL = "nvidia.com/gpu.present"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
CPU_NODES = ("cpu-node-1", "cpu-node-2")
GPU_NODES = ("gpu-node-1",)


def build_node(name: str, *, gpu: bool) -> dict[str, Any]:
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    labels = {
        "type": "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/worker": "",
    }
    spec: dict[str, Any] = {}
    if gpu:
        capacity[GPU_RESOURCE] = "1"
        labels[GPU_LABEL] = "true"
        labels["nvidia.com/gpu.product"] = "NVIDIA-H200"
        spec["taints"] = [GPU_TAINT]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
        },
    }


def gpu_node_names(count: int = len(GPU_NODES)) -> tuple[str, ...]:
    return tuple(f"gpu-node-{i}" for i in range(1, count + 1))


def build_nodes(gpu_nodes: int = len(GPU_NODES)) -> list[dict[str, Any]]:
    """Two CPU nodes and `gpu_nodes` GPU nodes of one GPU each (one, unless asked otherwise)."""
    return [build_node(n, gpu=False) for n in CPU_NODES] + [
        build_node(n, gpu=True) for n in gpu_node_names(gpu_nodes)
    ]
