"""The chart's admission guard (templates/admission-policy.yaml) on the stack's API server: Clubs with
an image outside the allowed prefixes, a serverSecretRef to a Secret without the opt-in label, or a
GPU resource name outside the list are refused with a message naming the field and the rule; allowed
ones pass; an update that leaves a refused field unchanged (the operator's finalizer on a Club that
predates the guard) passes.

The policies are rendered by `helm template` and applied as they are, bound to this test's
namespace only (admission.namespaceSelector), so other tests' Clubs are never judged by them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from club_devstack.stack import StackInfo
from tests.support import clubs, crds, helm

ALLOWED = "registry.example/club-runtime:"
LABEL = "footballclub.io/server-secret"
LEGACY_IMAGE = "elsewhere.example/runtime:1"


def _refusal(custom: k8s.CustomObjectsApi, namespace: str, spec: dict[str, Any]) -> str | None:
    """The API server's refusal of a Club with `spec` (a dry run: nothing is stored), or None."""
    body = crds.manifest("Club", {"displayName": "Guarded", **spec}, f"c-{uuid.uuid4().hex[:8]}")
    try:
        crds.create(custom, namespace, body, dry_run=True)
    except ApiException as exc:
        return str(exc.body)
    return None


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(kube_api)


@pytest.fixture
def guarded(
    stack: StackInfo, kube_api: k8s.ApiClient, custom: k8s.CustomObjectsApi, namespace: str
) -> Iterator[str]:
    """`namespace` with the chart's admission policies bound to it, a Club made before them, and a
    labelled and an unlabelled Secret; the policies are removed afterwards."""
    crds.install_crds(kube_api)
    legacy = {"displayName": "Legacy", "runtime": {"image": LEGACY_IMAGE}}
    clubs.create_club(custom, namespace, crds.manifest("Club", legacy, "legacy"))
    core = k8s.CoreV1Api(kube_api)
    for name, labels in (("pg-admin", {}), ("pg-admin-ok", {LABEL: "true"}), ("s3-admin", {})):
        meta = k8s.V1ObjectMeta(name=name, labels=labels)
        core.create_namespaced_secret(namespace, k8s.V1Secret(metadata=meta, string_data={"dsn": "x"}))
    values = {
        "admission": {
            "allowedImagePrefixes": [ALLOWED],
            "allowedGpuResourceNames": ["nvidia.com/gpu"],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        }
    }
    rendered = helm.objects(helm.render(values, release=f"guard-{uuid.uuid4().hex[:6]}"))
    policies = [o for o in rendered if o["kind"].startswith("ValidatingAdmissionPolicy")]
    assert len(policies) == 4
    helm.apply(stack, policies)
    # The API server takes policies and their parameters (the Secrets) up from its watches.
    clubs.wait_for(
        "the admission policies enforced",
        lambda: (
            _refusal(custom, namespace, {"runtime": {"image": "x.example/y:1"}}) is not None
            and _refusal(custom, namespace, {"database": {"serverSecretRef": {"name": "pg-admin"}}})
            is not None
        ),
        timeout=60,
    )
    yield namespace
    for policy in policies:
        helm.kubectl(
            stack, "delete", policy["kind"].lower(), policy["metadata"]["name"], "--ignore-not-found"
        )
    clubs.delete_club(custom, namespace, "legacy")


def test_a_club_image_outside_the_allowed_prefixes_is_refused_naming_the_field(
    guarded: str, custom: k8s.CustomObjectsApi
) -> None:
    refused = _refusal(custom, guarded, {"runtime": {"image": "docker.io/someone/runtime:latest"}})
    assert refused is not None
    assert "spec.runtime.image: docker.io/someone/runtime:latest is not allowed" in refused
    assert f"must start with one of {ALLOWED}" in refused
    assert "admission.allowedImagePrefixes" in refused
    assert _refusal(custom, guarded, {"runtime": {"image": f"{ALLOWED}0.2.0"}}) is None
    assert _refusal(custom, guarded, {}) is None  # the operator's default image


def test_a_server_secret_without_the_opt_in_label_is_refused_naming_the_field(
    guarded: str, custom: k8s.CustomObjectsApi
) -> None:
    refused = _refusal(custom, guarded, {"database": {"serverSecretRef": {"name": "pg-admin"}}})
    assert refused is not None
    assert "spec.database.serverSecretRef.name: Secret pg-admin does not carry the label" in refused
    assert LABEL in refused
    refused = _refusal(custom, guarded, {"storage": {"serverSecretRef": {"name": "s3-admin"}}})
    assert refused is not None
    assert "spec.storage.serverSecretRef.name: Secret s3-admin does not carry the label" in refused
    assert _refusal(custom, guarded, {"database": {"serverSecretRef": {"name": "pg-admin-ok"}}}) is None


def test_a_gpu_resource_name_outside_the_list_is_refused_naming_the_field(
    guarded: str, custom: k8s.CustomObjectsApi
) -> None:
    def video(name: str, enabled: bool = True) -> dict[str, Any]:
        return {"workers": {"video": {"gpu": {"enabled": enabled, "resourceName": name, "count": 1}}}}

    refused = _refusal(custom, guarded, video("example.com/fpga"))
    assert refused is not None
    assert "spec.workers.video.gpu.resourceName: example.com/fpga is not allowed" in refused
    assert "admission.allowedGpuResourceNames" in refused
    assert _refusal(custom, guarded, video("nvidia.com/gpu")) is None
    assert _refusal(custom, guarded, video("example.com/fpga", enabled=False)) is None  # asks for no GPU


def test_an_update_leaving_a_refused_field_unchanged_passes(
    guarded: str, custom: k8s.CustomObjectsApi
) -> None:
    # What the operator writes on a Club that predates the guard: a finalizer, an annotation.
    patched = crds.patch(
        custom, guarded, "Club", "legacy", {"metadata": {"annotations": {"example.com/note": "kept"}}}
    )
    assert patched["spec"]["runtime"]["image"] == LEGACY_IMAGE
    with pytest.raises(ApiException) as refused:
        crds.patch(custom, guarded, "Club", "legacy", {"spec": {"runtime": {"image": "other.example/rt:2"}}})
    assert "spec.runtime.image: other.example/rt:2 is not allowed" in str(refused.value.body)
