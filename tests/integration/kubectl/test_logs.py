"""`kubectl club logs`: the logs of a Club's pods of one component, read through the API server from
the kubelet of the stack's real node (the simulated nodes keep no logs).

The Club is suspended, so its own Deployments run no pods; two pods carrying the Club's API labels
run hack/go/nodeprobe on the real node (its Deployments' ReplicaSets select on their template hash
too, so they never adopt these): one prints a line and exits, one serves and logs that it listens."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import node, node_config, oci, tools
from club_devstack.stack import StackInfo
from tests.integration.kubectl.conftest import Plugin, one_error_line
from tests.support import clubs

IMAGE = "club.local/nodeprobe:kubectl-club"


@pytest.fixture(scope="module")
def probe_image(stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> str:
    if stack.node is None:
        missing = node.missing_prerequisites()
        if missing:
            pytest.skip(f"this machine cannot run the real node: {', '.join(missing)}")
        pytest.fail("the stack started without its real node although this machine can run one")
    binary = tmp_path_factory.mktemp("nodeprobe") / "nodeprobe"
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
        cwd=tools.HACK_DIR / "go" / "nodeprobe",
        env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"},
        check=True,
        capture_output=True,
    )
    files = [oci.File("/nodeprobe", binary.read_bytes())]
    node.load_image(stack.node, oci.build_archive(IMAGE, files, entrypoint=["/nodeprobe"]))
    return IMAGE


def _pod(name: str, club: str, args: list[str]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "club-platform", "app.kubernetes.io/component": "api"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {**labels, "footballclub.io/club": club}},
        "spec": {
            "nodeSelector": node_config.NODE_SELECTOR,
            "tolerations": [node_config.TOLERATION],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "probe",
                    "image": IMAGE,
                    "imagePullPolicy": "Never",
                    "args": args,
                    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
                }
            ],
        },
    }


def _phase(core: k8s.CoreV1Api, namespace: str, name: str) -> str:
    return str(core.read_namespaced_pod(name, namespace).status.phase)


def test_logs_of_a_component_and_following_them(
    plugin: Plugin,
    probe_image: str,
    make_club: Callable[..., dict[str, Any]],
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
) -> None:
    name = make_club()["metadata"]["name"]
    assert plugin("suspend", name, "-n", namespace).returncode == 0
    clubs.wait_condition(custom, namespace, name, "WorkloadsReady", "False", reason="Suspended", timeout=120)
    clubs.wait_for(
        "the Club's own API pods to be gone",
        lambda: (
            not core.list_namespaced_pod(
                namespace, label_selector=f"footballclub.io/club={name},app.kubernetes.io/component=api"
            ).items
        ),
        timeout=60,
    )
    assert "has no api pods" in one_error_line(plugin("logs", name, "-n", namespace))

    core.create_namespaced_pod(namespace, _pod("said", name, ["echo", "said", "once"]))
    core.create_namespaced_pod(namespace, _pod("serving", name, []))
    clubs.wait_for(
        "the echo pod to finish", lambda: _phase(core, namespace, "said") == "Succeeded", timeout=120
    )
    clubs.wait_for(
        "the server pod to run", lambda: _phase(core, namespace, "serving") == "Running", timeout=120
    )

    def both_logged() -> subprocess.CompletedProcess[str] | None:
        result = plugin("logs", name, "-n", namespace)
        return result if "listening on :8080" in result.stdout else None

    logged = clubs.wait_for("the server's first line", both_logged, timeout=30)
    assert logged.returncode == 0, logged.stderr
    assert "[pod/said] said once" in logged.stdout.splitlines()
    assert any(line.startswith("[pod/serving] ") for line in logged.stdout.splitlines())
    assert one_error_line(plugin("logs", name, "-n", namespace, "-c", "worker-video")).endswith(
        "has no worker-video pods (suspended, or not rolled out yet?)"
    )

    followed = subprocess.Popen(
        [plugin.kubectl, "club", "logs", name, "-n", namespace, "-f"],
        env=plugin.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in followed.stdout or []], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while not ("[pod/said] said once\n" in seen and any("listening on" in s for s in seen)):
            seen.append(lines.get(timeout=60))
        # The finished pod's stream has ended; the serving one's is still open: -f keeps following.
        assert followed.poll() is None
    finally:
        followed.terminate()
        followed.wait(timeout=30)
    core.delete_namespaced_pod("serving", namespace, grace_period_seconds=0)
