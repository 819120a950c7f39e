"""The real node's configuration, as pure builders: its addresses, containerd's config, the
kubelet's and kube-proxy's configurations, the CNI network, and containerd's registry hosts.

The node runs in a network namespace of its own (one per running stack, by slot), joined to the
host by a veth pair: its iptables rules, bridge and ports never meet the host's or another stack's.

    host                                   node's network namespace
    clubn<slot>h 10.201.<slot>.1/30  <->   eth0 10.201.<slot>.2/30, default route to the host
    route 10.200.<slot>.0/24 via node      cni0 bridge 10.200.<slot>.1/24: the pods
    route the Service range via node       kube-proxy's rules for the ClusterIPs
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "real-node-1"
POOL_LABEL = "footballclub.io/node-pool"
POOL = "real"
# Only pods that tolerate this land on the real node; kwok's nodes keep everything else.
TAINT = {"key": POOL_LABEL, "value": POOL, "effect": "NoSchedule"}
TOLERATION = {"key": POOL_LABEL, "operator": "Equal", "value": POOL, "effect": "NoSchedule"}
NODE_SELECTOR = {POOL_LABEL: POOL}
# Every node's transit and pod networks lie in here: the servers on the host accept clients from it.
NODE_NETWORKS = "10.200.0.0/15"
MAX_SLOTS = 64


@dataclass(frozen=True)
class NodeNetwork:
    """The names and addresses of the node in `slot` (one slot per running stack on a machine)."""

    slot: int

    def __post_init__(self) -> None:
        if not 0 <= self.slot < MAX_SLOTS:
            raise ValueError(f"node slot {self.slot} is outside 0..{MAX_SLOTS - 1}")

    @property
    def netns(self) -> str:
        return f"club-node-{self.slot}"

    @property
    def host_veth(self) -> str:
        return f"clubn{self.slot}h"

    @property
    def node_veth(self) -> str:
        return f"clubn{self.slot}n"

    @property
    def host_ip(self) -> str:
        return f"10.201.{self.slot}.1"

    @property
    def node_ip(self) -> str:
        return f"10.201.{self.slot}.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.200.{self.slot}.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"10.200.{self.slot}.1"

    @property
    def service_cidr(self) -> str:
        """The stack's Service ClusterIP range (a /18 of 10.208.0.0/12): the host routes it to this
        node, where kube-proxy answers, so each stack's range must be its own."""
        return f"10.{208 + self.slot // 4}.{(self.slot % 4) * 64}.0/18"

    @property
    def cgroup_root(self) -> str:
        """The kubelet's cgroupRoot: the pods' cgroups live under it, apart from other stacks'."""
        return f"/club-node-{self.slot}"


@dataclass(frozen=True)
class NodePaths:
    """Where the node keeps its state, all under the stack's folder."""

    base: Path

    @property
    def containerd_root(self) -> Path:
        return self.base / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.base / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.base / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.base / "containerd" / "config.toml"

    @property
    def registry_hosts(self) -> Path:
        return self.base / "containerd" / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        return self.base / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.base / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.base / "pod-logs"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml(tables: dict[str, dict[str, Any]], top: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"  {k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def build_containerd_config(paths: NodePaths, *, sandbox_image: str, cni_bin_dir: str, runc: str) -> str:
    """containerd 1.6's config (version 2): its own root, state and socket under the stack's folder."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return _toml(
        {
            "grpc": {"address": str(paths.containerd_socket)},
            "debug": {"address": ""},
            "metrics": {"address": ""},
            'plugins."io.containerd.internal.v1.opt"': {"path": str(paths.base / "containerd" / "opt")},
            cri: {
                "sandbox_image": sandbox_image,
                # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc with
                # "can't get final child's PID from pipe: EOF" (it may not lower oom_score_adj).
                "restrict_oom_score_adj": True,
                # Pod network namespaces under the state folder, not the host's /run/netns.
                "netns_mounts_under_state_dir": True,
                "disable_apparmor": True,
                "stream_server_address": "127.0.0.1",
                "stream_server_port": "0",
            },
            f"{cri}.containerd": {"snapshotter": "overlayfs", "default_runtime_name": "runc"},
            f"{cri}.containerd.runtimes.runc": {"runtime_type": "io.containerd.runc.v2"},
            f"{cri}.containerd.runtimes.runc.options": {"SystemdCgroup": False, "BinaryName": runc},
            f"{cri}.cni": {"bin_dir": cni_bin_dir, "conf_dir": str(paths.cni_conf_dir), "max_conf_num": 1},
            f"{cri}.registry": {"config_path": str(paths.registry_hosts)},
        },
        {
            "version": 2,
            "root": str(paths.containerd_root),
            "state": str(paths.containerd_state),
            "disabled_plugins": [
                "io.containerd.snapshotter.v1.aufs",
                "io.containerd.snapshotter.v1.btrfs",
                "io.containerd.snapshotter.v1.devmapper",
                "io.containerd.snapshotter.v1.zfs",
            ],
        },
    )


def build_registry_hosts(registry: str, reachable: str) -> str:
    """hosts.toml for the stack's registry: images are named by the address the host pushes to
    (`registry`, e.g. 127.0.0.1:PORT), which the node's network cannot reach, so pulls go to the
    same registry at `reachable` (the host's address), over plain HTTP."""
    return (
        f'server = "http://{registry}"\n\n'
        f'[host."http://{reachable}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        "  skip_verify = true\n"
    )


def cni_network(net: NodeNetwork) -> str:
    """The CNI network's name: containerd caches results by it in a machine-wide folder."""
    return f"club-pods-{net.slot}"


def build_cni_config(net: NodeNetwork, paths: NodePaths) -> dict[str, Any]:
    """A bridge network for the pods; traffic leaving it is masqueraded to the node's address."""
    return {
        "cniVersion": "0.4.0",
        "name": cni_network(net),
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.pod_cidr, "gateway": net.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni_data_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def build_kubelet_config(
    net: NodeNetwork, paths: NodePaths, *, client_ca: Path, serving: tuple[Path, Path]
) -> dict[str, Any]:
    """The KubeletConfiguration for this machine's kind: cgroup v1 without systemd."""
    cert, key = serving
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # cgroup v1 is deprecated; the 1.35 kubelet refuses it unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": net.cgroup_root,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        # Keeps the kubelet's own chains out of the node's firewall (kube-proxy writes what it needs).
        "makeIPTablesUtilChains": False,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "address": net.node_ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(cert),
        "tlsPrivateKeyFile": str(key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "registerWithTaints": [TAINT],
        "podLogsDir": str(paths.pod_logs),
        "resolvConf": "/etc/resolv.conf",
        "failSwapOn": False,
        "serializeImagePulls": False,
        # A shared development machine: never evict pods or collect images over its disk use.
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusReportFrequency": "10s",
    }


def build_kube_proxy_config(net: NodeNetwork, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": net.pod_cidr,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # The conntrack table's size and timeouts are the machine's, not the namespace's: leave them.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
