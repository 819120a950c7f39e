"""Helpers for VideoJob tests: read VideoJobs, and run a Club's video worker as a real process.

The local stack's nodes are simulated (kwok), so no pod really runs. `ClubWorker` plays the kubelet
for one pod of the Club's video Deployment: it takes the container's command and environment from
the Deployment the operator made, resolving `envFrom` ConfigMaps and `secretKeyRef`s from the
cluster, and runs that command here."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.support import clubs

GROUP, VERSION, PLURAL = "footballclub.io", "v1alpha1", "videojobs"
TERMINAL = ("Succeeded", "Failed")


def get(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        job: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return job


def status(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return dict((get(custom, namespace, name) or {}).get("status") or {})


def wait_phase(
    custom: k8s.CustomObjectsApi, namespace: str, name: str, phase: str, *, timeout: float = 60
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = status(custom, namespace, name)
        if found.get("phase") == phase:
            return found
        if phase not in TERMINAL and found.get("phase") in TERMINAL:
            raise AssertionError(f"{name} finished as {found} while waiting for {phase}")
        return None

    try:
        result: dict[str, Any] = clubs.wait_for(f"{name} phase {phase}", check, timeout, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; status: {status(custom, namespace, name)!r}") from None
    return result


def events(core: k8s.CoreV1Api, namespace: str, name: str) -> list[str]:
    """The reasons of the Events about the VideoJob, oldest first."""
    found = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    found.sort(key=lambda e: str(e.first_timestamp or e.event_time or e.metadata.creation_timestamp))
    return [str(e.reason) for e in found if e.involved_object.kind == "VideoJob"]


def _secret_value(core: k8s.CoreV1Api, namespace: str, ref: Any) -> str:
    secret = core.read_namespaced_secret(ref.name, namespace)
    return base64.b64decode((secret.data or {})[ref.key]).decode()


def pod_environment(
    apps: k8s.AppsV1Api, core: k8s.CoreV1Api, namespace: str, deployment: str
) -> tuple[list[str], dict[str, str]]:
    """The command and environment the kubelet would give the Deployment's first container."""
    template = apps.read_namespaced_deployment(deployment, namespace).spec.template.spec
    container = template.containers[0]
    env: dict[str, str] = {}
    for source in container.env_from or []:
        if source.config_map_ref is not None:
            data = core.read_namespaced_config_map(source.config_map_ref.name, namespace).data or {}
            env.update(data)
    for var in container.env or []:
        if var.value is not None:
            env[var.name] = var.value
        elif var.value_from is not None and var.value_from.secret_key_ref is not None:
            env[var.name] = _secret_value(core, namespace, var.value_from.secret_key_ref)
    return list(container.command), env


class ClubWorker:
    """One pod of the Club's video worker Deployment, run as a local process."""

    def __init__(
        self,
        apps: k8s.AppsV1Api,
        core: k8s.CoreV1Api,
        namespace: str,
        club: str,
        log: Path,
        *,
        burst: bool = False,
    ) -> None:
        command, env = pod_environment(apps, core, namespace, f"{club}-worker-video")
        assert command[:2] == ["club-runtime", "worker"], command
        args = command[2:]
        args[args.index("--metrics-port") + 1] = "0"  # several workers share this machine
        if burst:
            args.append("--burst")
        env.update(
            PATH=os.environ["PATH"],
            VIDEO_X264_PRESET="ultrafast",  # the tests' machine is small
            VIDEO_RETRY_INTERVALS_SEC="[1, 1]",
        )
        self.queues = args[args.index("--queues") + 1].split(",")
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "club_runtime", "worker", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""
