"""Benchmark of a Club on the stack's real node (containerd, kubelet, kube-proxy): how long from
`kubectl apply` of a Club to its API pod Ready there, and to the Club Ready, with the runtime image
already in the registry (the node pulls it on first use) and, in a second round, already on the
node. Also prints the images' sizes as the registry stores them (compressed) and unpacked.

    .venv/bin/python bench/bench_real_node.py [--rounds 2]

Starts a stack of its own with the real node (the bench needs the node's pull to be cold), builds
the images if the registry lacks them, and runs its own operator for its namespace with every pod of
the Club on the real node (club_devstack.operator.real_node_settings). Prints figures only."""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from club_devstack import images
from club_devstack.operator import real_node_settings, start_operator
from club_devstack.stack import Stack

GROUP, VERSION, PLURAL = "footballclub.io", "v1alpha1", "clubs"


def _wait(what: str, check: Any, timeout: float = 600) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def _api_pod_ready(core: k8s.CoreV1Api, namespace: str) -> datetime.datetime | None:
    """When the Club's first API pod became Ready (its condition's time), once one is."""
    for pod in core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=api").items:
        for condition in (pod.status.conditions if pod.status else None) or []:
            if condition.type == "Ready" and condition.status == "True" and condition.last_transition_time:
                return condition.last_transition_time
    return None


def _club_ready(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> bool:
    club: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)  # type: ignore[assignment]
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (club.get("status") or {}).get("conditions") or []
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="Clubs applied one after the other")
    args = parser.parse_args()
    with Stack.start(node=True) as stack:
        info = stack.info
        built = images.ensure_images(info)
        for ref in (built.runtime, built.operator):
            short = ref.rsplit("/", 1)[1]
            compressed = images.registry_size(info.registry, ref) / 2**20
            unpacked = images.image_size(images.local_ref(*short.split(":"))) / 2**20
            print(f"image {short:<40} {compressed:7.1f} MiB compressed, {unpacked:7.1f} MiB unpacked")
        api = k8s_config.new_client_from_config(config_file=str(info.kube.kubeconfig))  # type: ignore[no-untyped-call]
        core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
        with tempfile.TemporaryDirectory() as logs:
            operator = start_operator(
                info,
                Path(logs) / "club-operator.log",
                namespaces=[namespace],
                **real_node_settings(info, built.runtime),
            )
            try:
                for round_ in range(args.rounds):
                    name = f"bench-fc-{round_}"
                    body = {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "Club",
                        "metadata": {"name": name},
                        "spec": {"displayName": name, "api": {"replicas": 1}},
                    }
                    applied = datetime.datetime.now(datetime.UTC)
                    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
                    pod_ready = _wait("the API pod Ready", lambda: _api_pod_ready(core, namespace))
                    _wait("the Club Ready", lambda n=name: _club_ready(custom, namespace, n))
                    club_ready = datetime.datetime.now(datetime.UTC)
                    pull = "image pulled by the node" if round_ == 0 else "image already on the node"
                    to_pod = (pod_ready - applied).total_seconds()
                    to_club = (club_ready - applied).total_seconds()
                    print(
                        f"round {round_ + 1} ({pull}): API pod Ready {to_pod:5.1f} s after apply"
                        f" (1 s resolution), Club Ready {to_club:5.1f} s"
                    )
                    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
                    _wait("the Club gone", lambda n=name: not _exists(custom, namespace, n))
                    _wait("its pods gone", lambda: not core.list_namespaced_pod(namespace).items)
            finally:
                operator.process.stop()
                core.delete_namespace(namespace)


def _exists(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> bool:
    try:
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


if __name__ == "__main__":
    main()
