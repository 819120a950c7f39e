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

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from club_devstack import kube, node_config, oci, pki, tools
from club_devstack.node_config import NODE_NAME, NodeNetwork, NodePaths
from club_devstack.procs import Process, wait_until

SLOTS_DIR = Path("/run/club-devstack")
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_CACHE = Path("/var/lib/cni/results")
_MNT_DETACH = 2


class NodeUnavailable(RuntimeError):
    """This machine cannot run the node; the message says what is missing."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    address: str
    pod_cidr: str
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
        if not shutil.which(command, path=_path()):
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


def _path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={**os.environ, "PATH": _path()}
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


class _Slot:
    """A node slot held for the life of the stack: an flock on a file under /run."""

    def __init__(self, net: NodeNetwork, lock: IO[str]) -> None:
        self.net = net
        self._lock = lock

    @classmethod
    def claim(cls, base: Path) -> _Slot:
        SLOTS_DIR.mkdir(parents=True, exist_ok=True)
        for slot in range(node_config.MAX_SLOTS):
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
                _cleanup(net, NodePaths(previous))
            record.write_text(json.dumps({"base": str(base), "pid": os.getpid()}))
            return cls(net, lock)
        raise NodeUnavailable(f"all {node_config.MAX_SLOTS} node slots are in use")

    def release(self) -> None:
        (SLOTS_DIR / f"node-{self.net.slot}.json").unlink(missing_ok=True)
        self._lock.close()


class Node:
    """The running node: its processes and what it must undo when stopped."""

    def __init__(self, slot: _Slot, paths: NodePaths) -> None:
        self.slot = slot
        self.paths = paths
        self.procs: list[Process] = []

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.name != "containerd":
                proc.stop()
        _kill_cgroup_tree(self.slot.net.cgroup_root)
        containerd = next((p for p in self.procs if p.name == "containerd"), None)
        containers: list[str] = []
        if containerd and containerd.alive():
            containers = _delete_tasks(self.paths)
            containerd.stop()
        _cleanup(self.slot.net, self.paths)
        # What containerd's CNI library cached per pod, machine-wide, under each container's id.
        for container in containers:
            for cached in CNI_CACHE.glob(f"*-{container}-*"):
                cached.unlink(missing_ok=True)
        self.slot.release()


def start_node(
    root: Path, logs: Path, kube_info: kube.KubeInfo, registry: str | None = None
) -> tuple[Node, NodeInfo]:
    """Start the node and wait until it is Ready; raise NodeUnavailable if this machine cannot."""
    missing = missing_prerequisites()
    if missing:
        raise NodeUnavailable("the real node cannot start here; missing: " + ", ".join(missing))
    paths = NodePaths(root / "node")
    node = Node(_Slot.claim(paths.base), paths)
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
    _create_network(net)
    _create_cgroup_root(net.cgroup_root)

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
    env = {"PATH": _path()}
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
        netns=net.netns,
        containerd=str(paths.containerd_socket),
        pause_image=pause_image,
        labels=dict(node_config.NODE_SELECTOR),
        taint=dict(node_config.TAINT),
        folder=str(paths.base),
    )
    if registry:
        use_registry(info, registry)
    containerd.wait_ready(lambda: _run(*info.ctr("version"), check=False).returncode == 0, timeout=30)
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
        [
            *info.ctr("images", "import", "-"),
        ],
        input=archive,
        capture_output=True,
        check=False,
        env={**os.environ, "PATH": _path()},
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"importing an image into the node's containerd failed: {done.stderr.decode().strip()}"
        )


def _which(command: str) -> str:
    found = shutil.which(command, path=_path())
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


def _create_network(net: NodeNetwork) -> None:
    _run("ip", "netns", "add", net.netns)
    _run("ip", "link", "add", net.host_veth, "type", "veth", "peer", "name", net.node_veth)
    _run("ip", "link", "set", net.node_veth, "netns", net.netns)
    _run("ip", "addr", "add", f"{net.host_ip}/30", "dev", net.host_veth)
    _run("ip", "link", "set", net.host_veth, "up")
    ns = ("ip", "-n", net.netns)
    _run(*ns, "link", "set", "lo", "up")
    _run(*ns, "link", "set", net.node_veth, "name", "eth0")
    _run(*ns, "addr", "add", f"{net.node_ip}/30", "dev", "eth0")
    _run(*ns, "link", "set", "eth0", "up")
    _run(*ns, "route", "add", "default", "via", net.host_ip)
    _run("ip", "route", "add", net.pod_cidr, "via", net.node_ip)
    # Both settings belong to the namespace: the host's own stay as they are.
    _run(
        "nsenter",
        f"--net=/run/netns/{net.netns}",
        "--",
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
        "net.bridge.bridge-nf-call-iptables=1",
    )


def _cgroup_hierarchies() -> list[Path]:
    hierarchies = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ")
        if len(fields) == 2 and fields[1].split()[0] == "cgroup":
            hierarchies.append(Path(line.split()[4]))
    return hierarchies


def _create_cgroup_root(cgroup_root: str) -> None:
    for hierarchy in _cgroup_hierarchies():
        (hierarchy / cgroup_root.lstrip("/")).mkdir(exist_ok=True)


def _cgroup_pids(cgroup_root: str) -> set[int]:
    pids: set[int] = set()
    top = Path("/sys/fs/cgroup/pids") / cgroup_root.lstrip("/")
    if top.is_dir():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def _kill_cgroup_tree(cgroup_root: str) -> None:
    """SIGKILL every process in the pods' cgroups until none is left."""

    def empty() -> bool:
        pids = _cgroup_pids(cgroup_root)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not pids

    wait_until(empty, timeout=30, what=f"the processes in cgroup {cgroup_root} to end")


def _delete_tasks(paths: NodePaths) -> list[str]:
    """Ask containerd to delete its (killed) tasks, so that their shims exit and clean up; return
    the ids of all its containers."""
    ctr = ["ctr", "--address", str(paths.containerd_socket), "--namespace", "k8s.io"]
    for task in _run(*ctr, "tasks", "ls", "-q", check=False).stdout.split():
        _run(*ctr, "tasks", "delete", "--force", task, check=False)
    return _run(*ctr, "containers", "ls", "-q", check=False).stdout.split()


def _shim_pids(paths: NodePaths) -> list[int]:
    address = str(paths.containerd_socket).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if b"-address" in argv and address in argv:
                    pids.append(int(proc.name))
    return pids


def _mounts_under(base: Path) -> list[str]:
    prefix = str(base).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    return points


def _unmount_all(base: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(5):
        points = _mounts_under(base)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            libc.umount2(point.encode(), _MNT_DETACH)
    if _mounts_under(base):
        raise RuntimeError(f"could not unmount {', '.join(_mounts_under(base))}")


def _remove_cgroup_root(cgroup_root: str) -> None:
    for hierarchy in _cgroup_hierarchies():
        top = hierarchy / cgroup_root.lstrip("/")
        if top.is_dir():
            for folder in sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            ):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


def _cleanup(net: NodeNetwork, paths: NodePaths) -> None:
    """Undo everything a node in `net` with state in `paths` may have left: idempotent."""
    _kill_cgroup_tree(net.cgroup_root)
    for pid in _shim_pids(paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _shim_pids(paths), timeout=10, what="containerd's shims to exit")
    _unmount_all(paths.base)
    _remove_cgroup_root(net.cgroup_root)
    _run("ip", "route", "del", net.pod_cidr, check=False)
    _run("ip", "link", "del", net.host_veth, check=False)
    _run("ip", "netns", "del", net.netns, check=False)
    if CNI_CACHE.is_dir():
        for cached in CNI_CACHE.glob(f"{node_config.cni_network(net)}-*"):
            cached.unlink(missing_ok=True)
