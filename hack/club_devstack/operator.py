"""The operator as a real process against the local stack: `club-operator` with its settings pointing
at the stack's PostgreSQL and MinIO, after the CRDs are applied. Used by `make demo` and the tests."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from club_devstack import tools
from club_devstack.procs import Process
from club_devstack.stack import StackInfo

REPO = tools.HACK_DIR.parent
CRDS = REPO / "crds"


def apply_crds(stack: StackInfo) -> None:
    """Apply every CRD in crds/ and wait until the API server serves them."""
    kubectl = [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig)]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(CRDS)],
        check=True,
        capture_output=True,
        text=True,
    )
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS)],
        check=True,
        capture_output=True,
        text=True,
    )


def real_node_settings(stack: StackInfo, runtime_image: str) -> dict[str, str]:
    """Operator settings that run every Club's pods on the stack's real node (node.py), from
    `runtime_image` (a reference its containerd pulls: the stack's registry, images.py)."""
    if stack.node is None:
        raise RuntimeError("the stack runs no real node")
    node = stack.node
    toleration = {"key": node.taint["key"], "operator": "Equal", "value": node.taint["value"]}
    return {
        "default_runtime_image": runtime_image,
        "pod_node_selector": json.dumps(node.labels),
        "pod_tolerations": json.dumps([toleration | {"effect": node.taint["effect"]}]),
    }


def operator_env(stack: StackInfo, **overrides: str) -> dict[str, str]:
    env = {
        "KUBECONFIG": str(stack.kube.kubeconfig),
        "CLUB_OPERATOR_DATABASE_ADMIN_DSN": stack.postgres.dsn(),
        "CLUB_OPERATOR_S3_ENDPOINT": stack.minio.endpoint,
        "CLUB_OPERATOR_S3_ACCESS_KEY": stack.minio.access_key,
        "CLUB_OPERATOR_S3_SECRET_KEY": stack.minio.secret_key,
        "CLUB_OPERATOR_METRICS_PORT": str(tools.free_port()),
        "CLUB_OPERATOR_REDIS_URL": stack.redis.url(0),
    }
    return env | {f"CLUB_OPERATOR_{k.upper()}": v for k, v in overrides.items()}


@dataclass(frozen=True)
class RunningOperator:
    process: Process
    metrics_port: int
    liveness_url: str


def start_operator(
    stack: StackInfo, log: Path, *, namespaces: Sequence[str] = (), **overrides: str
) -> RunningOperator:
    """Start `club-operator` once its liveness endpoint answers: for every namespace, or for those
    matching `namespaces` (kopf's patterns: names, globs, `!glob` to exclude)."""
    apply_crds(stack)
    env = operator_env(stack, **overrides)
    liveness = tools.free_port()
    scope = [arg for pattern in namespaces for arg in ("--namespace", pattern)]
    proc = Process(
        "club-operator",
        [
            sys.executable,
            "-m",
            "club_operator",
            "--liveness",
            f"http://127.0.0.1:{liveness}/healthz",
            *scope,
        ],
        log,
        env=env,
    )

    def live() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)

    proc.wait_ready(live, timeout=60)
    return RunningOperator(
        proc, int(env["CLUB_OPERATOR_METRICS_PORT"]), f"http://127.0.0.1:{liveness}/healthz"
    )
