"""A real node beside kwok's simulated ones: containerd, the kubelet and kube-proxy, run as the
stack's processes in a network namespace of their own (see node_config), so that real pods run,
pass probes, log, stop gracefully and reach the stack's servers.

Pods outlive the processes that start them (containerd's shims detach), so stopping the node is
more than stopping its processes: `Node.stop` kills what runs in the node's cgroups, the shims,
unmounts what containerd and the kubelet mounted under the stack's folder, and deletes the network
namespace (with it the bridge, the pods' interfaces and every iptables rule kube-proxy wrote).
A stack killed before it could do so leaves that to the next stack that claims the same slot.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from club_devstack import kube, node_config, node_host, oci, pki, tools
from club_devstack.node_config import NODE_NAME, NodeNetwork, NodePaths
from club_devstack.procs import Process

SLOTS_DIR = Path("/run/club-devstack")
CNI_BIN_DIR = Path("/usr/lib/cni")
_MAX_SOCKET_PATH = 107


class NodeUnavailable(RuntimeError):
    """This machine cannot run the node; the message says what is missing."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    address: str
    pod_cidr: str
    # The stack's Service ClusterIPs: the host routes them to this node (kube-proxy).
    service_cidr: str
    netns: str
    containerd: str
    pause_image: str
    labels: dict[str, str]
    taint: dict[str, str]
    # The node's state (containerd's, the kubelet's), under the stack's folder.
    folder: str

    def netns_command(self, *argv: str) -> list[str]:
        """argv run in the node's network namespace: where the node's own processes see the
        network (pod IPs, Service ClusterIPs through kube-proxy)."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv]

    def ctr(self, *argv: str) -> list[str]:
        return ["ctr", "--address", self.containerd, "--namespace", "k8s.io", *argv]


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the node (empty when it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces, cgroups and mounts)")
    for command in ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "ip", "nsenter"):
        if not shutil.which(command, path=node_host.search_path()):
            missing.append(command)
    if not (CNI_BIN_DIR / "bridge").exists():
        missing.append(f"the CNI plugins in {CNI_BIN_DIR}")
    for binary in ("kubelet", "kube-proxy", "pause", "pause.version"):
        if not (tools.bindir("kubernetes-node") / binary).exists():
            missing.append(f"{binary} (hack/tools.sh go)")
    if tools.host_address() is None:
        missing.append("an IPv4 address on the host that the pods can reach (no default route)")
    if not Path("/sys/fs/cgroup/pids").is_dir():
        missing.append("cgroup v1 (this node is set up for cgroupfs on v1)")
    return missing


class Slot:
    """A node slot held for the life of the stack: an flock on a file under /run. Claiming a slot
    first cleans up what a stack killed while holding it left (its record names its folder)."""

    def __init__(self, net: NodeNetwork, lock: IO[str]) -> None:
        self.net = net
        self._lock = lock

    @classmethod
    def claim(cls, base: Path, slots: Iterable[int] = range(node_config.MAX_SLOTS)) -> Slot:
        """The first free slot of `slots`, for a node with its state in `base`."""
        SLOTS_DIR.mkdir(parents=True, exist_ok=True)
        for slot in slots:
            lock = (SLOTS_DIR / f"node-{slot}.lock").open("a+")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            net = NodeNetwork(slot)
            record = SLOTS_DIR / f"node-{slot}.json"
            if record.exists():
                # The last holder exited without stopping its node: clean up after it first.
                previous = Path(json.loads(record.read_text())["base"])
                node_host.cleanup(net, NodePaths(previous))
            record.write_text(json.dumps({"base": str(base), "pid": os.getpid()}))
            return cls(net, lock)
        raise NodeUnavailable("every node slot is in use")

    def release(self) -> None:
        if not self._lock.closed:
            (SLOTS_DIR / f"node-{self.net.slot}.json").unlink(missing_ok=True)
            self._lock.close()


class Node:
    """The running node: its processes and what it must undo when stopped."""

    def __init__(self, slot: Slot, paths: NodePaths) -> None:
        self.slot = slot
        self.paths = paths
        self.procs: list[Process] = []

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.name != "containerd":
                proc.stop()
        node_host.kill_cgroup_tree(self.slot.net.cgroup_root)
        containerd = next((p for p in self.procs if p.name == "containerd"), None)
        containers: list[str] = []
        if containerd and containerd.alive():
            containers = node_host.delete_tasks(self.paths)
            containerd.stop()
        node_host.cleanup(self.slot.net, self.paths, containers)
        self.slot.release()


def claim_slot(root: Path) -> Slot:
    """A slot for the node of the stack in `root` (its addresses, its Service range); raise
    NodeUnavailable if this machine cannot run the node."""
    missing = missing_prerequisites()
    if missing:
        raise NodeUnavailable("the real node cannot start here; missing: " + ", ".join(missing))
    paths = NodePaths(root / "node")
    # A unix socket's path has at most 107 bytes; containerd adds ".ttrpc" for its second socket.
    if len(os.fsencode(paths.containerd_socket)) + len(".ttrpc") > _MAX_SOCKET_PATH:
        raise NodeUnavailable(f"the run folder {root} is too long a path for containerd's sockets")
    return Slot.claim(paths.base)


def start_node(
    root: Path, logs: Path, kube_info: kube.KubeInfo, registry: str | None = None, slot: Slot | None = None
) -> tuple[Node, NodeInfo]:
    """Start the node in `slot` (else one claimed here) and wait until it is Ready; raise
    NodeUnavailable if this machine cannot run it."""
    node = Node(slot or claim_slot(root), NodePaths(root / "node"))
    try:
        info = _start(node, logs, kube_info, root / "pki", registry)
    except BaseException:
        node.stop()
        raise
    return node, info


def _start(node: Node, logs: Path, kube_info: kube.KubeInfo, certs: Path, registry: str | None) -> NodeInfo:
    net, paths = node.slot.net, node.paths
    host = tools.host_address()
    if host is None:
        raise NodeUnavailable("the host has no IPv4 address the pods can reach")
    for folder in (paths.containerd_root, paths.containerd_state, paths.cni_conf_dir, paths.kubelet_root):
        folder.mkdir(parents=True, exist_ok=True)
    node_host.create_network(net)
    node_host.create_cgroup_root(net.cgroup_root)

    node_bin = tools.bindir("kubernetes-node")
    pause_image = f"registry.k8s.io/pause:{(node_bin / 'pause.version').read_text().strip()}"
    paths.containerd_config.write_text(
        node_config.build_containerd_config(
            paths, sandbox_image=pause_image, cni_bin_dir=str(CNI_BIN_DIR), runc=_which("runc")
        )
    )
    (paths.cni_conf_dir / "10-club-pods.conflist").write_text(
        json.dumps(node_config.build_cni_config(net, paths), indent=2)
    )
    netns = ["nsenter", f"--net=/run/netns/{net.netns}", "--"]
    env = {"PATH": node_host.search_path()}
    containerd = Process(
        "containerd",
        [*netns, _which("containerd"), "--config", str(paths.containerd_config)],
        logs / "containerd.log",
        env=env,
    )
    node.procs.append(containerd)
    info = NodeInfo(
        name=NODE_NAME,
        address=net.node_ip,
        pod_cidr=net.pod_cidr,
        service_cidr=net.service_cidr,
        netns=net.netns,
        containerd=str(paths.containerd_socket),
        pause_image=pause_image,
        labels=dict(node_config.NODE_SELECTOR),
        taint=dict(node_config.TAINT),
        folder=str(paths.base),
    )
    if registry:
        use_registry(info, registry)
    containerd.wait_ready(
        lambda: node_host.run(*info.ctr("version"), check=False).returncode == 0, timeout=30
    )
    load_image(
        info,
        oci.build_archive(
            pause_image, [oci.File("/pause", (node_bin / "pause").read_bytes())], entrypoint=["/pause"]
        ),
    )

    ca = pki.Authority.load(certs)
    api_port = urllib.parse.urlsplit(kube_info.server).port
    server = f"https://{host}:{api_port}"
    kubelet_kubeconfig = kube._kubeconfig(
        paths.base / "kubelet.kubeconfig",
        server,
        ca.pair,
        ca.issue("kubelet", f"system:node:{NODE_NAME}", organization="system:nodes"),
        "kubelet",
    )
    serving = ca.issue("kubelet-serving", NODE_NAME, server_names=(NODE_NAME,), server_ips=(net.node_ip,))
    kubelet_config = paths.base / "kubelet.json"
    kubelet_config.write_text(
        json.dumps(
            node_config.build_kubelet_config(
                net, paths, client_ca=ca.pair.cert, serving=(serving.cert, serving.key)
            ),
            indent=2,
        )
    )
    kubelet = Process(
        "kubelet",
        [
            *netns,
            str(node_bin / "kubelet"),
            f"--config={kubelet_config}",
            f"--kubeconfig={kubelet_kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={net.node_ip}",
            f"--root-dir={paths.kubelet_root}",
            "--node-labels=" + ",".join(f"{k}={v}" for k, v in node_config.NODE_SELECTOR.items()),
            "--v=1",
        ],
        logs / "kubelet.log",
        env=env,
    )
    node.procs.append(kubelet)
    proxy_kubeconfig = kube._kubeconfig(
        paths.base / "kube-proxy.kubeconfig",
        server,
        ca.pair,
        ca.issue("kube-proxy", "system:kube-proxy"),
        "kube-proxy",
    )
    proxy_config = paths.base / "kube-proxy.json"
    proxy_config.write_text(json.dumps(node_config.build_kube_proxy_config(net, proxy_kubeconfig), indent=2))
    proxy = Process(
        "kube-proxy",
        [*netns, str(node_bin / "kube-proxy"), f"--config={proxy_config}", "--v=1"],
        logs / "kube-proxy.log",
        env=env,
    )
    node.procs.append(proxy)
    kubectl = str(tools.go_binary("kubernetes", "kubectl"))
    kubelet.wait_ready(lambda: _node_ready(kubectl, kube_info.kubeconfig), timeout=120)
    return info


def use_registry(info: NodeInfo, registry: str) -> None:
    """Let the node pull images named `registry/...` (the stack's registry, `127.0.0.1:PORT` as the
    host pushes to it) from the same port on the host's address, over plain HTTP. The registry
    must listen there too: the node's 127.0.0.1 is its own. containerd reads this on every pull."""
    host = tools.host_address()
    if host is None:
        raise NodeUnavailable("the host has no IPv4 address the node can reach its registry at")
    port = registry.rsplit(":", 1)[1]
    hosts = NodePaths(Path(info.folder)).registry_hosts / registry
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / "hosts.toml").write_text(node_config.build_registry_hosts(registry, f"{host}:{port}"))


def load_image(info: NodeInfo, archive: bytes) -> None:
    """Import an image archive (OCI layout or docker-archive tar) into the node's containerd, where
    the kubelet finds it by name without pulling."""
    done = subprocess.run(
        info.ctr("images", "import", "-"),
        input=archive,
        capture_output=True,
        check=False,
        env={**os.environ, "PATH": node_host.search_path()},
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"importing an image into the node's containerd failed: {done.stderr.decode().strip()}"
        )


def _which(command: str) -> str:
    found = shutil.which(command, path=node_host.search_path())
    if not found:
        raise NodeUnavailable(f"{command} is not installed: run `make tools` (hack/tools.sh apt)")
    return found


def _node_ready(kubectl: str, kubeconfig: Path) -> bool:
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "get", "node", NODE_NAME, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    conditions = json.loads(out.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
