"""metrics-server in the local stack, for what asks for it (`Stack.start(metrics_server=True)`): the
resource metrics API (`v1beta1.metrics.k8s.io`, what CPU HPAs and `kubectl top` read), scraped from
the real node's kubelet (node.py), as a host process with the stack's admin kubeconfig.

It is registered like KEDA's adapter (keda.py): an APIService naming kube-system/metrics-server, an
ExternalName Service of 127.0.0.1, which the API server's aggregation layer resolves to its port on
this host; it serves with a certificate from the stack's CA (the APIService's caBundle) and checks
the kubelet's serving certificate against that CA. kwok's nodes have no kubelet to scrape, so only
the real node's pool is (`--node-selector`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from club_devstack import keda, pki, tools
from club_devstack.datastores import LOOPBACK
from club_devstack.kube import KubeInfo
from club_devstack.procs import Process

NAMESPACE = "kube-system"
SERVICE = "metrics-server"
API_SERVICE = "v1beta1.metrics.k8s.io"


def build_registration(port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """The Service standing for metrics-server and the APIService naming it."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {
                "type": "ExternalName",
                "externalName": LOOPBACK,
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": API_SERVICE},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"namespace": NAMESPACE, "name": SERVICE, "port": port},
                "caBundle": base64.b64encode(ca_pem).decode(),
            },
        },
    ]


def start_metrics_server(
    root: Path, logs: Path, kube: KubeInfo, kubectl: Path, node_selector: str
) -> Process:
    """Register and start metrics-server for the nodes matching `node_selector`; wait until the API
    server serves the metrics API through it."""
    kubeconfig = kube.kubeconfig
    ca = pki.Authority.load(root / "pki")
    names = (SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc")
    serving = ca.issue("metrics-server", SERVICE, server_names=names, server_ips=(LOOPBACK,))
    port = tools.free_port()
    registration = {"apiVersion": "v1", "kind": "List", "items": build_registration(port, ca.pair.cert_pem())}
    keda.run_kubectl(kubectl, kubeconfig, "apply", "-f", "-", stdin=json.dumps(registration))
    proc = Process(
        "metrics-server",
        [
            str(tools.go_binary("metrics-server")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--kubelet-certificate-authority={ca.pair.cert}",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            f"--node-selector={node_selector}",
            # The shortest resolution it takes (longer than the kubelet request timeout).
            "--metric-resolution=15s",
            "--kubelet-request-timeout=5s",
        ],
        logs / "metrics-server.log",
    )
    try:
        proc.wait_ready(lambda: keda.api_service_available(kubectl, kubeconfig, API_SERVICE), timeout=120)
    except BaseException:
        proc.stop()
        raise
    return proc
