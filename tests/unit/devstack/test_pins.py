"""The wrapper Go modules in hack/go/ stay in step with the pins in hack/versions.env."""

from __future__ import annotations

import re

from club_devstack import tools

GO_DIR = tools.HACK_DIR / "go"


def _requires(gomod: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(?:require\s+)?([\w./-]+) (v[\w.+-]+)(?: // indirect)?$", gomod, re.M))


def test_kubernetes_wrapper_requires_the_pinned_release() -> None:
    gomod = (GO_DIR / "kubernetes" / "go.mod").read_text()
    assert _requires(gomod)["k8s.io/kubernetes"] == tools.pinned_versions()["KUBERNETES_VERSION"]


def test_every_staging_module_is_replaced_by_its_published_release() -> None:
    gomod = (GO_DIR / "kubernetes" / "go.mod").read_text()
    replaced = dict(re.findall(r"^\s*(k8s\.io/[\w-]+) => \1 (v[\w.]+)$", gomod, re.M))
    staging = tools.pinned_versions()["KUBERNETES_STAGING_VERSION"]
    assert len(replaced) >= 31
    assert {"k8s.io/api", "k8s.io/apiserver", "k8s.io/client-go", "k8s.io/kubelet"} <= set(replaced)
    assert set(replaced.values()) == {staging}
    # The staging modules share the release's minor version: v1.35.x goes with v0.35.x.
    assert staging.split(".")[1:] == tools.pinned_versions()["KUBERNETES_VERSION"].split(".")[1:]


def test_etcd_wrapper_requires_the_pinned_release() -> None:
    gomod = (GO_DIR / "etcd" / "go.mod").read_text()
    assert _requires(gomod)["go.etcd.io/etcd/server/v3"] == tools.pinned_versions()["ETCD_VERSION"]
