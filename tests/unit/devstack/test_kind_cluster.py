"""kind-cluster.yaml: nodes the kubelet can register (no labels it may not set on itself), a CPU
worker and a GPU worker labelled and tainted as the operator's GPU video workers expect. (kind's own
loader reads it in tests/integration/test_kind_path.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from club_devstack import node_config, nodes

KIND_CONFIG = Path(__file__).resolve().parents[3] / "kind-cluster.yaml"
# Label prefixes the kubelet may not set on its own Node (NodeRestriction), beyond a few it owns.
KUBELET_FORBIDDEN = ("node-role.kubernetes.io/", "node-restriction.kubernetes.io/")


def _config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(KIND_CONFIG.read_text())
    return loaded


def test_the_cluster_has_a_control_plane_a_cpu_worker_and_a_gpu_worker() -> None:
    config = _config()
    assert (config["apiVersion"], config["kind"]) == ("kind.x-k8s.io/v1alpha4", "Cluster")
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]


def test_no_node_asks_for_a_label_its_kubelet_may_not_set() -> None:
    for entry in _config()["nodes"]:
        for label in entry.get("labels") or {}:
            assert not label.startswith(KUBELET_FORBIDDEN), label


def test_the_workers_carry_the_projects_pool_label() -> None:
    workers = [n for n in _config()["nodes"] if n["role"] == "worker"]
    assert [w["labels"][node_config.POOL_LABEL] for w in workers] == ["cpu", "gpu"]


def test_the_gpu_worker_is_labelled_and_tainted_like_the_stacks_gpu_nodes() -> None:
    (gpu,) = [n for n in _config()["nodes"] if nodes.GPU_LABEL in (n.get("labels") or {})]
    assert gpu["labels"][nodes.GPU_LABEL] == "true"
    (patch,) = [yaml.safe_load(p) for p in gpu["kubeadmConfigPatches"]]
    assert patch["kind"] == "JoinConfiguration"
    assert patch["nodeRegistration"]["taints"] == [nodes.GPU_TAINT]
