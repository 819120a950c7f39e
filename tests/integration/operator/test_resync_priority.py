"""A Club a person edits is reconciled ahead of the other Clubs' resyncs (resync_gate.py): with
more resyncs waiting for a slot than run at once, the edit is observed in the Club's status before
the resyncs that were waiting when it was made have all started.

The resyncs are made to queue by a database server that answers nothing: sixteen Clubs, Ready on
the stack's PostgreSQL, have their server Secret turned to a socket that accepts connections and
never speaks, so each of their resyncs holds a slot until the connect timeout."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

SLOW = 16
SECRET = "slow-pg"
# Tiny pods, so that seventeen Clubs fit on the stack's nodes beside the other tests'.
SMALL = {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"memory": "64Mi"}}
PODS = {
    "api": {"resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts every connection and never answers; yields the port."""
    accepted: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for conn in accepted:
        conn.close()


def _metric(port: int, name: str) -> float:
    return clubs.metric_value(clubs.metrics_text(port), name) or 0.0


def _set_dsn(core: k8s.CoreV1Api, namespace: str, dsn: str) -> None:
    core.patch_namespaced_secret(SECRET, namespace, {"stringData": {"dsn": dsn}})


def test_an_edit_is_observed_ahead_of_the_waiting_resyncs(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    silent_server: int,
) -> None:
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=SECRET), string_data={"dsn": stack.postgres.dsn()}),
    )
    slow = [f"slow-{i:02d}" for i in range(SLOW)]
    for name in slow:
        spec = {"displayName": name, "database": {"serverSecretRef": {"name": SECRET}}, **PODS}
        clubs.create_club(custom, namespace, crds.manifest("Club", spec, name))
    clubs.create_club(
        custom, namespace, crds.manifest("Club", {"displayName": "Edited", **PODS}, "edited-fc")
    )
    for name in [*slow, "edited-fc"]:
        clubs.wait_condition(custom, namespace, name, "Ready", "True", timeout=600)

    _set_dsn(core, namespace, f"postgresql://postgres:unused@127.0.0.1:{silent_server}/postgres")
    try:
        port = club_operator.metrics_port
        waiting = clubs.wait_for(
            "resyncs queued behind the slow ones",
            lambda: (n := _metric(port, "club_operator_resyncs_waiting")) >= SLOW // 2 and n,
            timeout=120,
            interval=0.2,
        )
        started = _metric(port, "club_operator_resyncs_started_total")
        edited = custom.patch_namespaced_custom_object(
            "footballclub.io", "v1alpha1", namespace, "clubs", "edited-fc", {"spec": {"displayName": "Now"}}
        )
        generation = edited["metadata"]["generation"]
        clubs.wait_for(
            "the edit observed in the status",
            lambda: (
                ((clubs.get_club(custom, namespace, "edited-fc") or {}).get("status") or {}).get(
                    "observedGeneration"
                )
                == generation
            ),
            timeout=120,
            interval=0.1,
        )
        started_meanwhile = _metric(port, "club_operator_resyncs_started_total") - started
        assert started_meanwhile < waiting, (
            f"{started_meanwhile:.0f} resyncs started before the edit was observed; "
            f"{waiting:.0f} were waiting when it was made"
        )
    finally:
        _set_dsn(core, namespace, stack.postgres.dsn())
