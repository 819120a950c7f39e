"""KEDA in the local stack, for what asks for it (`Stack.start(keda=True)`): its CRDs, its operator
and its metrics API server (the adapter), built from KEDA's Go module by hack/tools.sh and run as
host processes with the stack's admin kubeconfig.

How the parts meet, as in a cluster but without pods:
- the operator watches ScaledObjects, reads their triggers (here a Club's Redis queues), creates
  each one's HPA, scales the target from zero when a trigger turns active and back to zero once
  the cooldown has passed, and serves the triggers' values to the adapter over gRPC (mutual TLS);
- the adapter serves those values as `external.metrics.k8s.io/v1beta1`: an APIService that the API
  server's aggregation layer proxies to (with its front-proxy client certificate, see kube.py). The
  APIService names the Service keda/keda-metrics-apiserver, an ExternalName of 127.0.0.1, which
  the aggregator resolves to the adapter's port on this host (no kube-proxy needed);
- the controller-manager's HPA controller (kube.start_control_plane with `hpa`) reads the metrics
  and sets the Deployment's replicas between one and the maximum.

The certificates come from a CA of KEDA's own, made per run: one certificate serves both ends of
the gRPC link and the adapter's HTTPS, and the APIService trusts that CA (caBundle). KEDA's own
certificate rotation stays off: it expects the kubelet to mount its Secret and restart the pod.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from club_devstack import pki, tools
from club_devstack.datastores import LOOPBACK
from club_devstack.kube import KubeInfo
from club_devstack.procs import Process

NAMESPACE = "keda"
OPERATOR_SERVICE = "keda-operator"
ADAPTER_SERVICE = "keda-metrics-apiserver"
API_SERVICE = "v1beta1.external.metrics.k8s.io"


def _service_names(service: str) -> tuple[str, ...]:
    return (
        service,
        f"{service}.{NAMESPACE}",
        f"{service}.{NAMESPACE}.svc",
        f"{service}.{NAMESPACE}.svc.cluster.local",
    )


def start_keda(root: Path, logs: Path, kube: KubeInfo, kubectl: Path) -> list[Process]:
    """Install KEDA's CRDs, start its operator and adapter, and wait until the API server serves
    the external metrics API through the adapter; return the processes (in start order)."""
    procs: list[Process] = []
    try:
        _start(root, logs, kube, kubectl, procs)
    except BaseException:
        for proc in reversed(procs):
            proc.stop()
        raise
    return procs


def run_kubectl(kubectl: Path, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """kubectl's output; a failure raises with its message."""
    done = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def build_registration(adapter_port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """KEDA's namespace, the Service standing for the adapter and the APIService naming it."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": ADAPTER_SERVICE, "namespace": NAMESPACE},
            "spec": {
                "type": "ExternalName",
                "externalName": LOOPBACK,
                "ports": [{"name": "https", "port": adapter_port, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": API_SERVICE},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"namespace": NAMESPACE, "name": ADAPTER_SERVICE, "port": adapter_port},
                "caBundle": base64.b64encode(ca_pem).decode(),
            },
        },
    ]


def _start(root: Path, logs: Path, kube: KubeInfo, kubectl: Path, procs: list[Process]) -> None:
    operator_bin, adapter_bin = tools.go_binary("keda", "keda"), tools.go_binary("keda", "keda-adapter")
    crds = tools.bindir("keda")  # kubectl reads only the YAML files of the folder: the CRDs
    kubeconfig = kube.kubeconfig
    run_kubectl(kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(crds))
    run_kubectl(kubectl, kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds))

    certs = root / "keda"
    ca = pki.Authority(certs, "ca")
    tls = ca.issue(
        "tls",
        "keda",
        server_names=("localhost", *_service_names(OPERATOR_SERVICE), *_service_names(ADAPTER_SERVICE)),
        server_ips=(LOOPBACK,),
        client_too=True,
    )
    grpc_port, adapter_port, health_port = tools.free_port(), tools.free_port(), tools.free_port()
    registration = {
        "apiVersion": "v1",
        "kind": "List",
        "items": build_registration(adapter_port, ca.pair.cert_pem()),
    }
    run_kubectl(kubectl, kubeconfig, "apply", "-f", "-", stdin=json.dumps(registration))

    # Where a pod would read them from its service account and downward API.
    env = {
        "KUBECONFIG": str(kubeconfig),
        "WATCH_NAMESPACE": "",
        "POD_NAMESPACE": NAMESPACE,
        "POD_NAME": OPERATOR_SERVICE,
        "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
    }
    operator = Process(
        "keda-operator",
        [
            str(operator_bin),
            f"--metrics-bind-address={LOOPBACK}:{tools.free_port()}",
            f"--health-probe-bind-address={LOOPBACK}:{health_port}",
            f"--metrics-service-bind-address={LOOPBACK}:{grpc_port}",
            f"--cert-dir={certs}",
            "--enable-cert-rotation=false",
            "--leader-elect=false",
            "--zap-encoder=console",
        ],
        logs / "keda-operator.log",
        env=env,
    )
    procs.append(operator)
    operator.wait_ready(lambda: _http_ok(f"http://{LOOPBACK}:{health_port}/readyz"), timeout=120)

    adapter = Process(
        "keda-adapter",
        [
            str(adapter_bin),
            f"--bind-address={LOOPBACK}",
            f"--secure-port={adapter_port}",
            f"--cert-dir={certs}",  # also where its gRPC client finds ca.crt, tls.crt and tls.key
            f"--tls-cert-file={tls.cert}",
            f"--tls-private-key-file={tls.key}",
            f"--lister-kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--metrics-service-address={LOOPBACK}:{grpc_port}",
            f"--port={tools.free_port()}",  # its own /metrics
            "--zap-encoder=console",
        ],
        logs / "keda-adapter.log",
        env=env,
    )
    procs.append(adapter)
    adapter.wait_ready(lambda: api_service_available(kubectl, kubeconfig), timeout=120)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - a local health endpoint
        return bool(resp.status == 200)


def api_service_available(kubectl: Path, kubeconfig: Path, name: str = API_SERVICE) -> bool:
    found = json.loads(run_kubectl(kubectl, kubeconfig, "get", "apiservice", name, "-o", "json"))
    conditions = found.get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
