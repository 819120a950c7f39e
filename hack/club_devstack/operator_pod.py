"""The operator as a pod on the stack's real node, from the operator image (images.py): what runs it
in a cluster, in the smallest form (the Helm chart in charts/ is what users install).

`manifests` builds the objects (pure): a ServiceAccount, a ClusterRole with the permissions the
operator uses and its binding, a Secret holding the operator's settings (its servers' credentials,
passed as environment variables), and a Deployment whose pod runs `club-operator` with the
service account's in-cluster credentials. `deploy` applies them with kubectl."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from club_devstack.stack import StackInfo

NAME = "club-operator"
METRICS_PORT = 8080
HEALTH_PORT = 8081
RUN_AS = 10001  # the image's user

# What the operator reads, watches and writes (README, "In a cluster it needs ...").
RULES: tuple[dict[str, Any], ...] = (
    {
        "apiGroups": ["footballclub.io"],
        "resources": ["clubs", "videojobs"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {
        # ClubBackups: the operator makes them for scheduled Jobs and backup-now annotations, and
        # retention deletes old ones.
        "apiGroups": ["footballclub.io"],
        "resources": ["clubbackups"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        # ClubRestores: watched (their daemon), their status written.
        "apiGroups": ["footballclub.io"],
        "resources": ["clubrestores"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {
        "apiGroups": ["footballclub.io"],
        "resources": ["clubs/status", "videojobs/status", "clubbackups/status", "clubrestores/status"],
        "verbs": ["patch"],
    },
    # kopf posts core Events, and never patches one.
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["secrets", "configmaps", "services"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        # The backup CronJob and Jobs; a backup's result is read from its pod's termination message.
        "apiGroups": ["batch"],
        "resources": ["jobs", "cronjobs"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {
        "apiGroups": ["autoscaling"],
        "resources": ["horizontalpodautoscalers"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": ["policy"],
        "resources": ["poddisruptionbudgets"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": ["keda.sh"],
        "resources": ["scaledobjects", "triggerauthentications"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["get", "list", "watch"],
    },
)


def settings(stack: StackInfo, **overrides: str) -> dict[str, str]:
    """The operator's settings for a pod: the stack's servers at the address pods reach."""
    env = {
        "CLUB_OPERATOR_DATABASE_ADMIN_DSN": stack.postgres.dsn(),
        "CLUB_OPERATOR_S3_ENDPOINT": stack.minio.endpoint,
        "CLUB_OPERATOR_S3_ACCESS_KEY": stack.minio.access_key,
        "CLUB_OPERATOR_S3_SECRET_KEY": stack.minio.secret_key,
        "CLUB_OPERATOR_REDIS_URL": stack.redis.url(0),
        "CLUB_OPERATOR_METRICS_PORT": str(METRICS_PORT),
    }
    return env | {f"CLUB_OPERATOR_{k.upper()}": v for k, v in overrides.items()}


def manifests(
    namespace: str,
    image: str,
    env: Mapping[str, str],
    *,
    watch: Sequence[str] = (),
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Everything that runs the operator in `namespace` from `image`, with settings `env`, for the
    namespaces `watch` (all when empty)."""
    labels = {"app.kubernetes.io/name": NAME}
    bound = f"{NAME}-{namespace}"  # cluster-scoped: one per operator namespace
    container: dict[str, Any] = {
        "name": "operator",
        "image": image,
        "args": [
            *(a for ns in watch for a in ("--namespace", ns)),
            "--liveness",
            f"http://0.0.0.0:{HEALTH_PORT}/healthz",
        ],
        "envFrom": [{"secretRef": {"name": NAME}}],
        "ports": [
            {"name": "metrics", "containerPort": METRICS_PORT},
            {"name": "health", "containerPort": HEALTH_PORT},
        ],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "health"},
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod: dict[str, Any] = {
        "serviceAccountName": NAME,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if node_selector:
        pod["nodeSelector"] = dict(node_selector)
    if tolerations:
        pod["tolerations"] = [dict(t) for t in tolerations]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": bound, "labels": labels},
            "rules": [dict(rule) for rule in RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": bound, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": bound},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
            "stringData": dict(env),
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "strategy": {"type": "Recreate"},  # one operator at a time: it does not elect a leader
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
    ]


def deploy(stack: StackInfo, objects: Sequence[Mapping[str, Any]]) -> None:
    """Apply the objects (the operator's CRDs must be installed already)."""
    kubectl = [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig)]
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    done = subprocess.run(
        [*kubectl, "apply", "--server-side", "--field-manager=club-devstack", "-f", "-"],
        input=listed,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl apply of the operator's objects failed: {done.stderr.strip()}")
