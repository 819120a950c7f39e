"""The operator's informers against the real API server: the copy follows creates, edits, deletes
and a label taken off by hand, and holds nothing without the label."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from club_operator import kube_client
from club_operator.informers import Informer
from tests.support import clubs

LABEL = {"app.kubernetes.io/managed-by": "informer-test"}


@pytest.fixture
def informer(kube_api: k8s.ApiClient, namespace: str) -> Iterator[Informer]:
    watched = Informer(
        "ConfigMap",
        f"/api/v1/namespaces/{namespace}/configmaps",
        "app.kubernetes.io/managed-by=informer-test",
        kube_client.watch_request(kube_api),
    )
    yield watched
    watched.stop()


def _config_map(name: str, labels: dict[str, str], value: str) -> k8s.V1ConfigMap:
    return k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name, labels=labels), data={"value": value})


def test_the_copy_follows_the_server(kube_api: k8s.ApiClient, namespace: str, informer: Informer) -> None:
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_config_map(namespace, _config_map("before", LABEL, "1"))
    core.create_namespaced_config_map(namespace, _config_map("foreign", {}, "1"))
    informer.start()
    assert informer.wait_synced(30)

    def held(name: str) -> str | None:
        known, obj = informer.get(namespace, name)
        assert known
        return None if obj is None else str(obj["data"]["value"])

    assert held("before") == "1"
    assert held("foreign") is None  # not ours: never in the copy

    core.create_namespaced_config_map(namespace, _config_map("after", LABEL, "a"))
    clubs.wait_for("a new object in the copy", lambda: held("after") == "a", timeout=10)

    core.patch_namespaced_config_map("before", namespace, {"data": {"value": "2"}})
    clubs.wait_for("an edit in the copy", lambda: held("before") == "2", timeout=10)

    core.delete_namespaced_config_map("before", namespace)
    clubs.wait_for("a deletion in the copy", lambda: held("before") is None, timeout=10)

    # Taking the label off by hand is, for the copy, a deletion: the next reconcile re-applies it.
    core.patch_namespaced_config_map(
        "after", namespace, {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    )
    clubs.wait_for(
        "an object that lost the label to leave the copy", lambda: held("after") is None, timeout=10
    )
