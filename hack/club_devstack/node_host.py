"""What the real node changes on the host, and how it is undone: its network namespace and veth
pair, its cgroups, and what containerd leaves when its processes are killed (shims, mounts). Every
undo is idempotent, so it also serves to clean up after a stack that was killed mid-run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from pathlib import Path

from club_devstack import node_config
from club_devstack.node_config import NodeNetwork, NodePaths
from club_devstack.procs import wait_until

CNI_CACHE = Path("/var/lib/cni/results")
_MNT_DETACH = 2


def search_path() -> str:
    """PATH with the sbin folders, where Debian puts ip, iptables and runc."""
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={**os.environ, "PATH": search_path()}
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def create_network(net: NodeNetwork) -> None:
    run("ip", "netns", "add", net.netns)
    run("ip", "link", "add", net.host_veth, "type", "veth", "peer", "name", net.node_veth)
    run("ip", "link", "set", net.node_veth, "netns", net.netns)
    run("ip", "addr", "add", f"{net.host_ip}/30", "dev", net.host_veth)
    run("ip", "link", "set", net.host_veth, "up")
    ns = ("ip", "-n", net.netns)
    run(*ns, "link", "set", "lo", "up")
    run(*ns, "link", "set", net.node_veth, "name", "eth0")
    run(*ns, "addr", "add", f"{net.node_ip}/30", "dev", "eth0")
    run(*ns, "link", "set", "eth0", "up")
    run(*ns, "route", "add", "default", "via", net.host_ip)
    run("ip", "route", "add", net.pod_cidr, "via", net.node_ip)
    run("ip", "route", "add", net.service_cidr, "via", net.node_ip)
    # Both settings belong to the namespace: the host's own stay as they are.
    run(
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


def create_cgroup_root(cgroup_root: str) -> None:
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


def kill_cgroup_tree(cgroup_root: str) -> None:
    """SIGKILL every process in the pods' cgroups until none is left."""

    def empty() -> bool:
        pids = _cgroup_pids(cgroup_root)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not pids

    wait_until(empty, timeout=30, what=f"the processes in cgroup {cgroup_root} to end")


def delete_tasks(paths: NodePaths) -> list[str]:
    """Ask containerd to delete its (killed) tasks, so that their shims exit and clean up; return
    the ids of all its containers."""
    ctr = ["ctr", "--address", str(paths.containerd_socket), "--namespace", "k8s.io"]
    for task in run(*ctr, "tasks", "ls", "-q", check=False).stdout.split():
        run(*ctr, "tasks", "delete", "--force", task, check=False)
    return run(*ctr, "containers", "ls", "-q", check=False).stdout.split()


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


def cleanup(net: NodeNetwork, paths: NodePaths, containers: list[str] | None = None) -> None:
    """Undo everything a node in `net` with state in `paths` may have left: idempotent.
    `containers`: the ids of containerd's containers where it could still list them."""
    # Tasks whose shims were killed keep their folders: they name the pods a killed stack left.
    tasks = paths.containerd_state / "io.containerd.runtime.v2.task" / "k8s.io"
    ids = set(containers or []) | ({t.name for t in tasks.iterdir()} if tasks.is_dir() else set())
    kill_cgroup_tree(net.cgroup_root)
    for pid in _shim_pids(paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _shim_pids(paths), timeout=10, what="containerd's shims to exit")
    _unmount_all(paths.base)
    _remove_cgroup_root(net.cgroup_root)
    run("ip", "route", "del", net.pod_cidr, check=False)
    run("ip", "route", "del", net.service_cidr, check=False)
    run("ip", "link", "del", net.host_veth, check=False)
    run("ip", "netns", "del", net.netns, check=False)
    if CNI_CACHE.is_dir():
        for cached in CNI_CACHE.glob(f"{node_config.cni_network(net)}-*"):
            cached.unlink(missing_ok=True)
    forget_cni_results(sorted(ids))


def forget_cni_results(containers: list[str]) -> None:
    """Remove what containerd's CNI library cached, machine-wide, for each of these containers."""
    for container in containers:
        for cached in CNI_CACHE.glob(f"*-{container}-*"):
            cached.unlink(missing_ok=True)
