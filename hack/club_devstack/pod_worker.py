"""Run one pod of a Club's worker or API Deployment as a local process.

The local stack's nodes are simulated (kwok): pods are scheduled but nothing runs in them. To see a
VideoJob processed, or a Club's data served, `make demo` and the tests play the kubelet for one pod:
the container's command and environment come from the Deployment the operator made, with `envFrom`
ConfigMaps and `secretKeyRef`s resolved from the cluster, and the command runs here."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from club_devstack import tools
from club_devstack.procs import wait_until


def _raw(response: Any) -> dict[str, Any]:
    """An API response read as the JSON the API server sent (camelCase keys)."""
    return dict(json.loads(response.data))


def pod_environment(api: k8s.ApiClient, namespace: str, deployment: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment the kubelet would give the Deployment's first container."""
    core = k8s.CoreV1Api(api)
    found = k8s.AppsV1Api(api).read_namespaced_deployment(deployment, namespace, _preload_content=False)
    container = _raw(found)["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            config = core.read_namespaced_config_map(
                source["configMapRef"]["name"], namespace, _preload_content=False
            )
            env.update(_raw(config).get("data") or {})
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in (var.get("valueFrom") or {}):
            ref = var["valueFrom"]["secretKeyRef"]
            secret = _raw(core.read_namespaced_secret(ref["name"], namespace, _preload_content=False))
            env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return list(container["command"]), env


class PodWorker:
    """`club-runtime worker` as the Club's `<club>-worker-<pool>` Deployment would run it."""

    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        club: str,
        log: Path,
        *,
        pool: str = "video",
        burst: bool = False,
        **env_overrides: str,
    ) -> None:
        command, env = pod_environment(api, namespace, f"{club}-worker-{pool}")
        if command[:2] != ["club-runtime", "worker"]:
            raise ValueError(f"not a worker command: {command}")
        args = command[2:]
        args[args.index("--metrics-port") + 1] = "0"  # several workers share this machine's ports
        if burst:
            args.append("--burst")
        env.update(PATH=os.environ["PATH"], **env_overrides)
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
        """SIGTERM, as the kubelet does: the worker finishes its job and exits."""
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


class PodApi:
    """`club-runtime api` as the Club's `<club>-api` Deployment would run it, on a free local port."""

    def __init__(self, api: k8s.ApiClient, namespace: str, club: str, log: Path) -> None:
        command, env = pod_environment(api, namespace, f"{club}-api")
        if command[:2] != ["club-runtime", "api"]:
            raise ValueError(f"not an API command: {command}")
        args = command[2:]
        port = tools.free_port()
        args[args.index("--host") + 1] = "127.0.0.1"
        args[args.index("--port") + 1] = str(port)
        env.update(PATH=os.environ["PATH"])
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "club_runtime", "api", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """Until `/readyz` answers 200 (database, Redis, S3 and migrations checked by the API)."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:  # noqa: S310 - our own URL
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(ready, timeout=timeout, what=f"the API at {self.url} to be ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""
