"""A real Kubernetes control plane as local processes: etcd, kube-apiserver (TLS, RBAC, service
account signing), kube-controller-manager, kube-scheduler, and kwok simulating the kubelets of
fake nodes (two CPU nodes and one GPU node)."""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from club_devstack import nodes, pki, tools
from club_devstack.datastores import LOOPBACK
from club_devstack.procs import Process, wait_until

SERVICE_CIDR = "10.96.0.0/16"

# The API server's audit log, when the stack is asked for one (Stack.start(audit=True)), in its logs
# folder: every request of a workload's service account (an operator pod's among them; not the
# controllers' of kube-system) at Metadata level (user, verb, resource, response code; no bodies),
# one JSON event a line, written before the response is sent.
AUDIT_LOG = "kube-apiserver-audit.log"
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}


@dataclass(frozen=True)
class KubeInfo:
    server: str
    kubeconfig: Path
    version: str


def _kubeconfig(path: Path, server: str, ca: pki.KeyPair, client: pki.KeyPair, user: str) -> Path:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "devstack",
                "cluster": {"server": server, "certificate-authority-data": b64(ca.cert_pem())},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert_pem()),
                    "client-key-data": b64(client.key_pem()),
                },
            }
        ],
        "contexts": [{"name": "devstack", "context": {"cluster": "devstack", "user": user}}],
        "current-context": "devstack",
    }
    # JSON is valid YAML, and every Kubernetes client reads it.
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def start_control_plane(
    root: Path,
    logs: Path,
    *,
    gpu_nodes: int = 1,
    hpa: bool = False,
    service_cidr: str = SERVICE_CIDR,
    audit: bool = False,
) -> tuple[list[Process], KubeInfo]:
    """Start the control plane; return its processes (in start order) and how to reach it. `hpa`
    runs the HPA controller too (for a stack with a metrics API, e.g. KEDA's); `audit` has the API
    server write its audit log (AUDIT_LOG in `logs`)."""
    procs: list[Process] = []
    try:
        info = _start(root, logs, procs, gpu_nodes, hpa, service_cidr=service_cidr, audit=audit)
    except BaseException:
        for proc in reversed(procs):
            proc.stop()
        raise
    return procs, info


def _audit_args(root: Path, logs: Path) -> list[str]:
    policy = root / "audit-policy.json"
    policy.write_text(json.dumps(AUDIT_POLICY))
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={logs / AUDIT_LOG}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxsize=0",
    ]


def _start(
    root: Path, logs: Path, procs: list[Process], gpu_nodes: int, hpa: bool, *, service_cidr: str, audit: bool
) -> KubeInfo:
    certs = root / "pki"
    ca = pki.Authority(certs)
    # The aggregation layer: the API server proxies an APIService's requests (KEDA's external
    # metrics) with this client certificate; the server behind it trusts the user it names through
    # this CA, which the API server publishes in kube-system/extension-apiserver-authentication.
    front_proxy = pki.Authority(certs, "front-proxy-ca")
    proxy_client = front_proxy.issue("front-proxy-client", "front-proxy-client")
    api_port = tools.free_port()
    server = f"https://{LOOPBACK}:{api_port}"
    serving = ca.issue(
        "apiserver",
        "kube-apiserver",
        server_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        # The `kubernetes` Service's ClusterIP: the range's first address.
        server_ips=(LOOPBACK, str(ipaddress.ip_network(service_cidr)[1]), *_host_addresses()),
    )
    # For logs, exec and port-forward on the real node's kubelet (see node.py).
    kubelet_client = ca.issue(
        "apiserver-kubelet-client", "kube-apiserver-kubelet-client", organization="system:masters"
    )
    sa = pki.write_signing_key(certs, "service-account")
    admin = _kubeconfig(
        root / "admin.kubeconfig",
        server,
        ca.pair,
        ca.issue("admin", "devstack-admin", organization="system:masters"),
        "admin",
    )
    cm = _kubeconfig(
        root / "controller-manager.kubeconfig",
        server,
        ca.pair,
        ca.issue("controller-manager", "system:kube-controller-manager"),
        "controller-manager",
    )
    sched = _kubeconfig(
        root / "scheduler.kubeconfig",
        server,
        ca.pair,
        ca.issue("scheduler", "system:kube-scheduler"),
        "scheduler",
    )
    kwok_cfg = _kubeconfig(
        root / "kwok.kubeconfig",
        server,
        ca.pair,
        ca.issue("kwok", "kwok", organization="system:masters"),
        "kwok",
    )

    etcd_port, etcd_peer = tools.free_port(), tools.free_port()
    etcd_url = f"http://{LOOPBACK}:{etcd_port}"
    etcd = Process(
        "etcd",
        [
            str(tools.go_binary("etcd")),
            "--name=devstack",
            f"--data-dir={root / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://{LOOPBACK}:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://{LOOPBACK}:{etcd_peer}",
            f"--initial-cluster=devstack=http://{LOOPBACK}:{etcd_peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        logs / "etcd.log",
    )
    procs.append(etcd)
    etcd.wait_ready(lambda: _http_ok(f"{etcd_url}/health"), timeout=60)

    k8s = tools.bindir("kubernetes")
    apiserver = Process(
        "kube-apiserver",
        [
            str(k8s / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            # On the host's address too when it has one: the real node's kubelet and pods (through
            # the `kubernetes` Service, whose endpoint is the advertised address) reach it there.
            f"--bind-address={'0.0.0.0' if _host_addresses() else LOOPBACK}",  # noqa: S104 - loopback too
            f"--advertise-address={(_host_addresses() or (LOOPBACK,))[0]}",
            f"--secure-port={api_port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.pair.cert}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-key-file={sa.cert}",
            f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={service_cidr}",
            "--allow-privileged=true",
            f"--cert-dir={certs}",
            "--enable-priority-and-fairness=false",
            f"--requestheader-client-ca-file={front_proxy.pair.cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={proxy_client.cert}",
            f"--proxy-client-key-file={proxy_client.key}",
            "--v=1",
            *(_audit_args(root, logs) if audit else []),
        ],
        logs / "kube-apiserver.log",
    )
    procs.append(apiserver)
    context = ssl.create_default_context(cafile=str(ca.pair.cert))
    context.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))
    apiserver.wait_ready(lambda: _http_ok(f"{server}/readyz", context), timeout=120)

    # No client-side rate limit for the controllers and the scheduler (what kwokctl's
    # DisableQPSLimits sets for simulated clusters): at their defaults (20 and 50 requests/s) the
    # Deployment and ReplicaSet controllers need minutes for the ~15 status writes per Club that
    # 200 Clubs' 600 pods take, with the machine idle, and that is what the scale benchmark timed.
    unlimited = ["--kube-api-qps=5000", "--kube-api-burst=10000"]
    common = [f"--bind-address={LOOPBACK}", "--leader-elect=false", "--v=1", *unlimited]
    controller_manager = Process(
        "kube-controller-manager",
        [
            str(k8s / "kube-controller-manager"),
            f"--kubeconfig={cm}",
            f"--authentication-kubeconfig={cm}",
            f"--authorization-kubeconfig={cm}",
            f"--secure-port={tools.free_port()}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa.key}",
            f"--root-ca-file={ca.pair.cert}",
            f"--cluster-signing-cert-file={ca.pair.cert}",
            f"--cluster-signing-key-file={certs / 'ca.key'}",
            f"--service-cluster-ip-range={service_cidr}",
            # kwok's nodes have no cloud and no IPAM; everything else runs as in a real cluster,
            # but the HPA controller unless asked: with no metrics API it can only fail, posting a
            # Warning Event per HPA every 15 s (thousands a minute at 200 Clubs), which loads the API
            # server and buries the operator's own Events. The HPAs themselves are still created and
            # checked. With one (KEDA's), it syncs every 5 s, so tests see a scale soon after a change.
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller"
            + ("" if hpa else ",-horizontalpodautoscaling"),
            *(["--horizontal-pod-autoscaler-sync-period=5s"] if hpa else []),
            # A loaded 2-core machine can delay kwok's heartbeats: do not evict pods over it.
            "--node-monitor-grace-period=2m",
            *common,
        ],
        logs / "kube-controller-manager.log",
    )
    procs.append(controller_manager)
    scheduler = Process(
        "kube-scheduler",
        [
            str(k8s / "kube-scheduler"),
            f"--kubeconfig={sched}",
            f"--authentication-kubeconfig={sched}",
            f"--authorization-kubeconfig={sched}",
            f"--secure-port={tools.free_port()}",
            *common,
        ],
        logs / "kube-scheduler.log",
    )
    procs.append(scheduler)

    kwok = Process(
        "kwok",
        [
            str(tools.go_binary("kwok")),
            f"--kubeconfig={kwok_cfg}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-label-selector={nodes.KWOK_LABEL}",
            f"--server-address={LOOPBACK}:{tools.free_port()}",
            # Leases make kwok's heartbeats cheap and frequent (a quarter of the duration); without
            # them it patches node status about once a minute, past the controller's grace period.
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.240.0.1",
        ],
        logs / "kwok.log",
    )
    procs.append(kwok)

    version = json.loads(_http_get(f"{server}/version", context))["gitVersion"]
    info = KubeInfo(server=server, kubeconfig=admin, version=version)
    kubectl = str(k8s / "kubectl")
    for manifest in nodes.build_nodes(gpu_nodes):
        subprocess.run(
            [kubectl, "--kubeconfig", str(admin), "apply", "-f", "-"],
            input=json.dumps(manifest),
            text=True,
            check=True,
            capture_output=True,
        )
    wait_until(
        lambda: _nodes_ready(kubectl, admin, len(nodes.build_nodes(gpu_nodes))), timeout=60, what="kwok nodes"
    )
    wait_until(lambda: _default_service_account(kubectl, admin), timeout=60, what="default service account")
    return info


def _host_addresses() -> tuple[str, ...]:
    address = tools.host_address()
    return (address,) if address else ()


def _http_get(url: str, context: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(url, timeout=3, context=context) as resp:  # noqa: S310
        return str(resp.read().decode())


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=3, context=context) as resp:  # noqa: S310
        return bool(resp.status == 200)


def _kubectl_json(kubectl: str, kubeconfig: Path, *args: str) -> Any:
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), *args, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _nodes_ready(kubectl: str, kubeconfig: Path, expected: int) -> bool:
    items = _kubectl_json(kubectl, kubeconfig, "get", "nodes")["items"]
    ready = [
        n
        for n in items
        if any(
            c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
        )
    ]
    return len(items) == expected and len(ready) == len(items)


def _default_service_account(kubectl: str, kubeconfig: Path) -> bool:
    _kubectl_json(kubectl, kubeconfig, "get", "serviceaccount", "default", "-n", "default")
    return True
