"""The stack's real node runs real pods: the node is Ready with its pool label and taint; a pod
pulls nothing (its image is imported), passes its readiness probe, logs, is reached through a
ClusterIP Service (kube-proxy) and a NodePort, reaches the stack's servers at the address the stack
hands out, and stops gracefully on the kubelet's SIGTERM. A stack stopped leaves nothing running.

The pod runs hack/go/nodeprobe (a static HTTP server built here), imported as a one-layer image."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from club_devstack import node, node_config, oci, tools
from club_devstack.procs import wait_until
from club_devstack.stack import Stack, StackInfo
from tests.conftest import unique_name
from tests.support import registry_push

IMAGE = "club.local/nodeprobe:test"
NODEPROBE = tools.HACK_DIR / "go" / "nodeprobe"


def _node_of(stack: StackInfo) -> node.NodeInfo:
    if stack.node is None:
        missing = node.missing_prerequisites()
        if missing:
            pytest.skip(f"this machine cannot run the real node: {', '.join(missing)}")
        pytest.fail("the stack started without its real node although this machine can run one")
    return stack.node


@pytest.fixture(scope="session")
def probe_files(tmp_path_factory: pytest.TempPathFactory) -> list[oci.File]:
    binary = tmp_path_factory.mktemp("nodeprobe") / "nodeprobe"
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
        cwd=NODEPROBE,
        env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"},
        check=True,
        capture_output=True,
    )
    return [oci.File("/nodeprobe", binary.read_bytes())]


@pytest.fixture(scope="session")
def probe_archive(probe_files: list[oci.File]) -> bytes:
    return oci.build_archive(IMAGE, probe_files, entrypoint=["/nodeprobe"])


@pytest.fixture(scope="session")
def real_node(stack: StackInfo, probe_archive: bytes) -> node.NodeInfo:
    info = _node_of(stack)
    node.load_image(info, probe_archive)
    return info


def _pod(name: str, *, env: dict[str, str] | None = None, volume: Path | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "probe",
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    spec: dict[str, Any] = {
        "nodeSelector": node_config.NODE_SELECTOR,
        "tolerations": [node_config.TOLERATION],
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
    }
    if volume:
        container["volumeMounts"] = [{"name": "events", "mountPath": "/events"}]
        spec["volumes"] = [{"name": "events", "hostPath": {"path": str(volume), "type": "Directory"}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": spec,
    }


def _ready(core: k8s.CoreV1Api, namespace: str, name: str) -> bool:
    pod = core.read_namespaced_pod(name, namespace)
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _gone(core: k8s.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


@dataclass(frozen=True)
class Probe:
    pod: k8s.V1Pod
    cluster_ip: str
    node_port: int


@pytest.fixture(scope="module")
def probe(real_node: node.NodeInfo, kube_api: k8s.ApiClient) -> Iterator[Probe]:
    """A probe pod on the real node and a Service (ClusterIP with a NodePort) in front of it."""
    core = k8s.CoreV1Api(kube_api)
    namespace = unique_name("node")
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    core.create_namespaced_pod(namespace, _pod("probe"))
    service = core.create_namespaced_service(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "probe"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "probe"},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
    )
    wait_until(lambda: _ready(core, namespace, "probe"), timeout=90, what="the probe pod to be Ready")
    # kube-proxy rewrites its rules a moment after the endpoint turns ready: until then, a refusal.
    url = f"http://{service.spec.cluster_ip}/healthz"
    wait_until(lambda: bool(_get(url)), timeout=30, what="kube-proxy's rules for the Service")
    yield Probe(
        core.read_namespaced_pod("probe", namespace), service.spec.cluster_ip, service.spec.ports[0].node_port
    )
    core.delete_namespace(namespace, propagation_policy="Background")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - http URLs built here
        return str(resp.read().decode())


def _get_in_node_network(info: node.NodeInfo, url: str) -> str:
    """GET `url` from the node's own network namespace, where Service ClusterIPs are routed."""
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode(), end='')"
    done = subprocess.run(
        info.netns_command(sys.executable, "-c", code), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"GET {url} from the node's network failed: {done.stderr.strip()}")
    return done.stdout


def test_node_is_ready_with_its_pool_label_and_taint(
    real_node: node.NodeInfo, kube_api: k8s.ApiClient
) -> None:
    found = k8s.CoreV1Api(kube_api).read_node(real_node.name)
    assert any(c.type == "Ready" and c.status == "True" for c in found.status.conditions)
    for key, value in node_config.NODE_SELECTOR.items():
        assert found.metadata.labels[key] == value
    assert [(t.key, t.value, t.effect) for t in found.spec.taints or []] == [
        (node_config.TAINT["key"], node_config.TAINT["value"], node_config.TAINT["effect"])
    ]
    assert found.status.node_info.container_runtime_version.startswith("containerd://")
    assert found.status.node_info.kubelet_version == tools.pinned_versions()["KUBERNETES_VERSION"]
    assert {a.type: a.address for a in found.status.addresses}["InternalIP"] == real_node.address


def test_pod_runs_on_the_real_node_and_passes_its_readiness_probe(
    real_node: node.NodeInfo, probe: Probe
) -> None:
    assert probe.pod.spec.node_name == real_node.name
    assert probe.pod.status.phase == "Running"
    assert probe.pod.status.pod_ip.startswith(real_node.pod_cidr.rsplit(".", 2)[0] + ".")
    (status,) = probe.pod.status.container_statuses
    assert status.ready
    assert status.restart_count == 0


def test_pod_logs_are_read_through_the_api_server(stack: StackInfo, probe: Probe) -> None:
    kubectl = [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig)]
    done = subprocess.run(
        [*kubectl, "logs", "--namespace", probe.pod.metadata.namespace, "probe"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "listening on :8080" in done.stdout


def test_exec_and_port_forward_reach_the_container(stack: StackInfo, probe: Probe) -> None:
    kubectl = [
        str(stack.kubectl),
        "--kubeconfig",
        str(stack.kube.kubeconfig),
        "-n",
        probe.pod.metadata.namespace,
    ]
    done = subprocess.run(
        [*kubectl, "exec", "probe", "--", "/nodeprobe", "echo", "from", "inside"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "from inside\n"
    forward = subprocess.Popen(
        [*kubectl, "port-forward", "pod/probe", ":8080"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
        port = line.split("127.0.0.1:", 1)[1].split()[0]
        assert _get(f"http://127.0.0.1:{port}/healthz") == "ok\n"
    finally:
        forward.terminate()
        forward.wait(10)


def test_cluster_ip_service_reaches_the_pod_through_kube_proxy(
    real_node: node.NodeInfo, probe: Probe
) -> None:
    # From the host: the stack's Service range is routed to its node, where kube-proxy answers.
    assert ipaddress.ip_address(probe.cluster_ip) in ipaddress.ip_network(real_node.service_cidr)
    assert _get(f"http://{probe.cluster_ip}/healthz") == "ok\n"
    # And from the node's own network, as its host-network processes see it.
    assert _get_in_node_network(real_node, f"http://{probe.cluster_ip}/healthz") == "ok\n"


def test_node_port_reaches_the_pod_from_the_host(real_node: node.NodeInfo, probe: Probe) -> None:
    assert _get(f"http://{real_node.address}:{probe.node_port}/healthz") == "ok\n"


def test_pod_reaches_the_stacks_servers_at_the_address_the_stack_hands_out(
    stack: StackInfo, kube_api: k8s.ApiClient, probe: Probe
) -> None:
    minio = stack.minio.endpoint.removeprefix("http://")
    for address in (f"{stack.postgres.host}:{stack.postgres.port}", stack.redis.address(), minio):
        assert _get(f"http://{probe.cluster_ip}/dial?addr={address}") == "connected\n", address
    # And the API server, through the `kubernetes` Service, as in-cluster clients do.
    api = k8s.CoreV1Api(kube_api).read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert _get(f"http://{probe.cluster_ip}/dial?addr={api}:443") == "connected\n"


def test_kubelet_stops_a_pod_with_sigterm_and_waits_for_it_to_drain(
    real_node: node.NodeInfo, kube_api: k8s.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = k8s.CoreV1Api(kube_api)
    events = tmp_path / "events"
    events.mkdir()
    events.chmod(0o777)  # the pod runs as a non-root user
    pod = _pod("draining", env={"DRAIN_SECONDS": "3", "EVENTS_FILE": "/events/log"}, volume=events)
    pod["spec"]["securityContext"] = {"runAsUser": 65532}
    core.create_namespaced_pod(namespace, pod)
    wait_until(lambda: _ready(core, namespace, "draining"), timeout=90, what="the draining pod to be Ready")
    core.delete_namespaced_pod("draining", namespace)
    wait_until(lambda: _gone(core, namespace, "draining"), timeout=60, what="the draining pod to be deleted")
    lines = (events / "log").read_text().splitlines()
    assert lines == ["listening on :8080", "received terminated; draining for 3s", "stopped cleanly"]


def test_pod_pulls_its_image_from_the_stacks_registry(
    stack: StackInfo,
    real_node: node.NodeInfo,
    kube_api: k8s.ApiClient,
    namespace: str,
    probe_files: list[oci.File],
) -> None:
    tag = unique_name("pull")
    registry_push.push(
        stack.registry.url, "nodeprobe", tag, oci.build_image(probe_files, entrypoint=["/nodeprobe"])
    )
    pod = _pod("pulled")
    container = pod["spec"]["containers"][0]
    # The name the host pushed to (127.0.0.1:PORT/...): containerd's hosts.toml sends the pull to
    # the registry at the host's address, which the node reaches.
    container["image"] = f"{stack.registry.host}/nodeprobe:{tag}"
    container["imagePullPolicy"] = "Always"
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, pod)
    wait_until(lambda: _ready(core, namespace, "pulled"), timeout=90, what="the pod of the pulled image")
    (status,) = core.read_namespaced_pod("pulled", namespace).status.container_statuses
    assert status.image_id.startswith(f"{stack.registry.host}/nodeprobe@sha256:")


def _leftovers(root: Path, net: node_config.NodeNetwork) -> list[str]:
    found = []
    prefix = str(root)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if prefix in cmdline:
                found.append(f"process {proc.name}: {cmdline[:120]}")
    found += [
        f"mount {line.split()[4]}"
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if prefix in line
    ]
    if Path(f"/run/netns/{net.netns}").exists():
        found.append(f"network namespace {net.netns}")
    if Path(f"/sys/class/net/{net.host_veth}").exists():
        found.append(f"interface {net.host_veth}")
    if Path("/sys/fs/cgroup/pids", net.cgroup_root.lstrip("/")).exists():
        found.append(f"cgroup {net.cgroup_root}")
    return found


@pytest.mark.slow
def test_stopping_a_stack_leaves_nothing_of_its_node_behind(stack: StackInfo, probe_archive: bytes) -> None:
    _node_of(stack)  # skips where the machine cannot run a node
    with Stack.start(keep=True, node=True) as second:
        root, info = second.root, second.info.node
        assert info is not None
        net = node_config.NodeNetwork(int(info.netns.rsplit("-", 1)[1]))
        node.load_image(info, probe_archive)
        kubectl = [str(second.info.kubectl), "--kubeconfig", str(second.info.kube.kubeconfig)]
        subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(_pod("left")), text=True, check=True)
        core = k8s.CoreV1Api(k8s.ApiClient(_client_config(second.info)))
        wait_until(
            lambda: _ready(core, "default", "left"), timeout=90, what="a pod on the second stack's node"
        )
        assert _leftovers(root, net), "the check finds nothing even while the node runs"
    try:
        assert _leftovers(root, net) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_killed_stacks_node_is_cleaned_up_by_the_next_claim_of_its_slot(
    stack: StackInfo, probe_archive: bytes
) -> None:
    _node_of(stack)
    root = Path(tempfile.mkdtemp(prefix="club-stack-"))
    started = subprocess.Popen(
        [sys.executable, "-m", "club_devstack", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stack_file = root / "stack.json"
        wait_until(stack_file.exists, timeout=180, what="the killed stack to start")
        info = json.loads(stack_file.read_text())["node"]
        killed = node.NodeInfo(**info)
        node.load_image(killed, probe_archive)
        kubectl = [str(stack.kubectl), "--kubeconfig", str(root / "admin.kubeconfig")]
        subprocess.run(
            [*kubectl, "apply", "-f", "-"], input=json.dumps(_pod("orphan")), text=True, check=True
        )
        subprocess.run([*kubectl, "wait", "--for=condition=Ready", "pod/orphan", "--timeout=90s"], check=True)
        started.kill()  # no chance to stop anything: the stack's processes die with it, the pod does not
        started.wait()
        net = node_config.NodeNetwork(int(killed.netns.rsplit("-", 1)[1]))
        wait_until(
            lambda: not _processes_named(root / "node" / "containerd" / "config.toml"),
            timeout=30,
            what="containerd to die with its stack",
        )
        assert _leftovers(root / "node", net), "a killed stack's node leaves its pod running"
        try:
            slot = node.Slot.claim(root / "claimed", slots=[net.slot])
        except node.NodeUnavailable:
            pytest.skip("another stack claimed the slot first (and cleaned it up)")
        slot.release()
        assert _leftovers(root / "node", net) == []
    finally:
        started.kill()
        # The stack's own processes die with it (parent-death signal); make sure of it.
        for pid in _processes_named(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def _processes_named(path: Path) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, str(path))]


def _cmdline_has(proc: Path, text: str) -> bool:
    try:
        return text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False


def _client_config(info: StackInfo) -> k8s.Configuration:
    from kubernetes import config as k8s_config

    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(info.kube.kubeconfig), client_configuration=configuration)
    return configuration
