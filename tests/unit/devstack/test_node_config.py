"""The real node's configuration: addresses apart per slot, and the settings this machine's kind
needs (cgroup v1 without systemd, no CAP_SYS_RESOURCE, its own state under the stack's folder)."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

import pytest

from club_devstack import node_config
from club_devstack.node_config import NodeNetwork, NodePaths

PATHS = NodePaths(Path("/stack/node"))


def test_slots_get_disjoint_networks_inside_the_node_networks() -> None:
    nodes = ipaddress.ip_network(node_config.NODE_NETWORKS)
    seen: list[ipaddress.IPv4Network] = []
    for slot in (0, 1, node_config.MAX_SLOTS - 1):
        net = NodeNetwork(slot)
        pods = ipaddress.IPv4Network(net.pod_cidr)
        transit = ipaddress.IPv4Network(f"{net.node_ip}/30", strict=False)
        assert ipaddress.IPv4Address(net.host_ip) in transit
        assert ipaddress.IPv4Address(net.pod_gateway) in pods
        for network in (pods, transit):
            assert network.subnet_of(nodes)
            assert not any(network.overlaps(other) for other in seen)
            seen.append(network)
    assert len({NodeNetwork(s).host_veth for s in range(node_config.MAX_SLOTS)}) == node_config.MAX_SLOTS
    assert all(len(NodeNetwork(s).host_veth) <= 15 for s in range(node_config.MAX_SLOTS))  # IFNAMSIZ


def test_each_slot_has_a_service_range_of_its_own_apart_from_the_default() -> None:
    ranges = [ipaddress.ip_network(NodeNetwork(s).service_cidr) for s in range(node_config.MAX_SLOTS)]
    assert all(r.prefixlen == 18 for r in ranges)
    assert len(set(ranges)) == node_config.MAX_SLOTS
    assert all(r.subnet_of(ipaddress.IPv4Network("10.208.0.0/12")) for r in ranges)
    others = (ipaddress.IPv4Network("10.96.0.0/16"), ipaddress.IPv4Network(node_config.NODE_NETWORKS))
    assert not any(r.overlaps(o) for r in ranges for o in others)


def test_a_slot_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        NodeNetwork(node_config.MAX_SLOTS)


def test_containerd_keeps_its_state_in_the_stack_and_may_not_lower_oom_scores() -> None:
    text = node_config.build_containerd_config(
        PATHS, sandbox_image="registry.k8s.io/pause:3.10.1", cni_bin_dir="/usr/lib/cni", runc="/usr/sbin/runc"
    )
    config = tomllib.loads(text)
    assert config["version"] == 2
    assert config["root"] == "/stack/node/containerd/root"
    assert config["state"] == "/stack/node/containerd/state"
    assert config["grpc"]["address"] == "/stack/node/containerd/containerd.sock"
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10.1"
    assert cri["cni"]["conf_dir"] == "/stack/node/cni/net.d"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"SystemdCgroup": False, "BinaryName": "/usr/sbin/runc"}
    assert cri["registry"]["config_path"] == "/stack/node/containerd/certs.d"


def test_registry_pulls_go_to_the_address_the_node_reaches_over_http() -> None:
    hosts = tomllib.loads(node_config.build_registry_hosts("127.0.0.1:5000", "192.0.2.2:5000"))
    assert hosts["server"] == "http://127.0.0.1:5000"
    assert hosts["host"]["http://192.0.2.2:5000"]["capabilities"] == ["pull", "resolve"]


def test_kubelet_runs_on_cgroup_v1_with_cgroupfs_and_registers_tainted() -> None:
    net = NodeNetwork(3)
    config = node_config.build_kubelet_config(
        net, PATHS, client_ca=Path("/pki/ca.crt"), serving=(Path("/pki/k.crt"), Path("/pki/k.key"))
    )
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == "/club-node-3"
    assert config["makeIPTablesUtilChains"] is False
    assert config["containerRuntimeEndpoint"] == "unix:///stack/node/containerd/containerd.sock"
    assert config["registerWithTaints"] == [node_config.TAINT]
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["address"] == net.node_ip


def test_the_node_pool_label_is_one_the_kubelet_may_set_on_itself() -> None:
    # NodeRestriction refuses node-role.kubernetes.io/* (and other kubernetes.io) labels from a kubelet.
    for key in node_config.NODE_SELECTOR:
        assert "kubernetes.io" not in key
        assert "k8s.io" not in key
    assert node_config.TOLERATION["key"] == node_config.TAINT["key"]
    assert node_config.TOLERATION["effect"] == node_config.TAINT["effect"]


def test_kube_proxy_uses_iptables_and_leaves_the_machines_conntrack_settings() -> None:
    config = node_config.build_kube_proxy_config(NodeNetwork(0), Path("/k/proxy.kubeconfig"))
    assert config["mode"] == "iptables"
    assert config["hostnameOverride"] == node_config.NODE_NAME
    assert config["clusterCIDR"] == "10.200.0.0/24"
    assert config["conntrack"]["maxPerCore"] == 0


def test_pods_get_a_masqueraded_bridge_on_the_slots_subnet() -> None:
    config = node_config.build_cni_config(NodeNetwork(5), PATHS)
    bridge = config["plugins"][0]
    assert config["name"] == "club-pods-5"
    assert bridge["type"] == "bridge"
    assert bridge["ipMasq"] is True
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.200.5.0/24", "gateway": "10.200.5.1"}]]
    assert bridge["ipam"]["dataDir"] == "/stack/node/cni/ipam"
