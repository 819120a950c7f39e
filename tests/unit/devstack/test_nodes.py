"""The fake nodes look like a cloud's CPU and GPU pools to the scheduler."""

from __future__ import annotations

from club_devstack import nodes


def test_two_cpu_nodes_and_one_tainted_gpu_node() -> None:
    built = {n["metadata"]["name"]: n for n in nodes.build_nodes()}
    assert set(built) == {"cpu-node-1", "cpu-node-2", "gpu-node-1"}
    gpu = built["gpu-node-1"]
    assert gpu["metadata"]["labels"][nodes.GPU_LABEL] == "true"
    assert gpu["status"]["capacity"][nodes.GPU_RESOURCE] == "1"
    assert gpu["status"]["allocatable"][nodes.GPU_RESOURCE] == "1"
    assert gpu["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def test_cpu_nodes_offer_no_gpu_and_carry_no_taint() -> None:
    for node in nodes.build_nodes():
        if node["metadata"]["name"].startswith("cpu-"):
            assert nodes.GPU_RESOURCE not in node["status"]["capacity"]
            assert nodes.GPU_LABEL not in node["metadata"]["labels"]
            assert "taints" not in node["spec"]


def test_every_node_is_managed_by_kwok() -> None:
    key, value = nodes.KWOK_LABEL.split("=")
    assert all(n["metadata"]["labels"][key] == value for n in nodes.build_nodes())
