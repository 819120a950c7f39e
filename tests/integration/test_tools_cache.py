"""hack/tools.sh builds each pinned tool once: run again (as a second `make test` does), it finds
every binary in the cache and rebuilds nothing."""

from __future__ import annotations

import subprocess

from club_devstack import tools

TOOLS = {
    "etcd": ["etcd"],
    "kubernetes": ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"],
    "kubernetes-node": ["kubelet", "kube-proxy", "pause"],
    "kwok": ["kwok"],
    "minio": ["minio"],
    "helm": ["helm"],
    "registry": ["registry"],
    "keda": ["keda", "keda-adapter", "keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"],
    "metrics-server": ["metrics-server"],
    "prometheus-operator": ["monitoring.coreos.com_prometheusrules.yaml"],
    "prometheus": ["prometheus"],
}


def test_a_second_tools_run_rebuilds_nothing() -> None:
    binaries = [tools.bindir(t) / b for t, names in TOOLS.items() for b in names]
    before = {b: b.stat().st_mtime_ns for b in binaries}
    run = subprocess.run(["bash", str(tools.TOOLS_SH), "go"], capture_output=True, text=True, check=True)
    for tool in TOOLS:
        assert f"{tool} v" in run.stderr
    assert "building" not in run.stderr
    assert run.stderr.count(": cached") == len(TOOLS)
    assert {b: b.stat().st_mtime_ns for b in binaries} == before


def test_binaries_report_their_pinned_versions() -> None:
    pins = tools.pinned_versions()
    kubectl = tools.go_binary("kubernetes", "kubectl")
    client = subprocess.run(
        [str(kubectl), "version", "--client", "-o", "json"], capture_output=True, text=True, check=True
    )
    assert f'"gitVersion": "{pins["KUBERNETES_VERSION"]}"' in client.stdout
    kubelet = tools.go_binary("kubernetes-node", "kubelet")
    node = subprocess.run([str(kubelet), "--version"], capture_output=True, text=True, check=True)
    assert node.stdout.strip() == f"Kubernetes {pins['KUBERNETES_VERSION']}"
    etcd = subprocess.run(
        [str(tools.go_binary("etcd")), "--version"], capture_output=True, text=True, check=True
    )
    assert f"etcd Version: {pins['ETCD_VERSION'].lstrip('v')}" in etcd.stdout
