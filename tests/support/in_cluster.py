"""What the e2e suite does inside a cluster: install the operator as a pod, and run short-lived pods of
the runtime image that act as a club's users (HTTP clients of its API, uploads to its bucket).

Only the Kubernetes API is used from the test's machine: a ClusterIP, a pod's address or a server in
the cluster may not be reachable from there (kind's are not), so whatever talks to them runs in a pod.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils as k8s_utils
from kubernetes.client.exceptions import ApiException

from club_devstack import operator_pod
from tests.support import clubs
from tests.support.e2e_cluster import Cluster

RUN_AS = 10001  # the images' user


def describe_pods(core: k8s.CoreV1Api, namespace: str) -> str:
    """The pods of a namespace and, for each not Ready, why: what a person would look at."""
    lines = []
    for pod in core.list_namespaced_pod(namespace).items:
        statuses = pod.status.container_statuses or []
        lines.append(
            f"{pod.metadata.name} on {pod.spec.node_name}: {pod.status.phase}, "
            + json.dumps([{"ready": s.ready, "state": str(s.state)} for s in statuses])
        )
        if statuses and not all(s.ready for s in statuses) and any(s.state.running for s in statuses):
            try:
                lines.append(core.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=20))
            except ApiException as exc:
                lines.append(f"(no log: {exc.reason})")
    return "\n".join(lines)


@contextmanager
def operator(cluster: Cluster, api: k8s.ApiClient, watched: str, home: str) -> Iterator[None]:
    """The operator image running as a pod in `home` for the namespace `watched`, Ready; removed on exit."""
    objects = operator_pod.manifests(
        home,
        cluster.operator_image,
        cluster.operator_env,
        watch=[watched],
        node_selector=cluster.node_selector,
        tolerations=cluster.tolerations,
    )
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    rbac = k8s.RbacAuthorizationV1Api(api)
    bound = f"{operator_pod.NAME}-{home}"
    try:
        for obj in objects:
            k8s_utils.create_from_dict(api, obj)
        try:
            clubs.wait_for(
                "the operator's pod Ready",
                lambda: (
                    (apps.read_namespaced_deployment(operator_pod.NAME, home).status.ready_replicas or 0) == 1
                ),
                timeout=300,
                interval=1,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe_pods(core, home)}") from None
        yield
    finally:
        for delete, name in ((rbac.delete_cluster_role_binding, bound), (rbac.delete_cluster_role, bound)):
            try:
                delete(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


def delete_namespace(core: k8s.CoreV1Api, name: str, *, wait: bool = True, timeout: float = 180) -> None:
    """Delete a namespace (if there) and, with `wait`, wait until it is gone."""
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
        return
    if wait:

        def gone() -> bool:
            try:
                core.read_namespace(name)
            except ApiException as exc:
                if exc.status == 404:
                    return True
                raise
            return False

        clubs.wait_for(f"namespace {name} to be deleted", gone, timeout=timeout, interval=1)


def pod_body(
    cluster: Cluster, name: str, args: Sequence[str], env: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """A pod that runs the runtime image's python once, as the Club's own pods run (non-root, read-only
    root, /tmp an emptyDir), where the suite's pods run."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "club-e2e-client"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "client",
                    "image": cluster.runtime_image,
                    "command": ["python", "-c", *args],
                    "env": list(env),
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (the pod's emptyDir)
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            **cluster.pod_placement(),
        },
    }


def run_python(
    cluster: Cluster,
    core: k8s.CoreV1Api,
    namespace: str,
    script: str,
    *args: str,
    env: Sequence[dict[str, Any]] = (),
    timeout: float = 300,
) -> str:
    """Run `script` with `args` in a pod of the runtime image until it exits; its output, once it
    succeeded (else an AssertionError with its output). The pod is deleted either way."""
    name = f"e2e-client-{uuid.uuid4().hex[:8]}"
    core.create_namespaced_pod(namespace, pod_body(cluster, name, [script, *args], env))
    try:
        try:
            phase = clubs.wait_for(
                f"pod {name} to finish",
                lambda: (
                    (p := core.read_namespaced_pod(name, namespace).status.phase) in ("Succeeded", "Failed")
                    and p
                ),
                timeout=timeout,
                interval=1,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe_pods(core, namespace)}") from None
        log = str(core.read_namespaced_pod_log(name, namespace))
        if phase != "Succeeded":
            raise AssertionError(f"pod {name} failed:\n{log[-4000:]}")
        return log
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def secret_env(variable: str, secret: str, key: str) -> dict[str, Any]:
    """An environment variable from a Secret's key: the value never leaves the cluster."""
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
