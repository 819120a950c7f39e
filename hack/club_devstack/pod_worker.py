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


class _PodProcess:
    """One container of a Club's Deployment run here: `club-runtime <component> <args>` with the
    environment the kubelet would give it; SIGTERM to stop, as the kubelet does."""

    stop_grace_sec = 30.0

    def __init__(self, component: str, args: list[str], env: dict[str, str], log: Path) -> None:
        env.update(PATH=os.environ["PATH"])
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "club_runtime", component, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_grace_sec)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""


def _command(
    api: k8s.ApiClient, namespace: str, deployment: str, component: str
) -> tuple[list[str], dict[str, str]]:
    command, env = pod_environment(api, namespace, deployment)
    if command[:2] != ["club-runtime", component]:
        raise ValueError(f"not a {component} command: {command}")
    return command[2:], env


class PodWorker(_PodProcess):
    """`club-runtime worker` as the Club's `<club>-worker-<pool>` Deployment would run it; stopping it
    lets the worker finish its job first."""

    stop_grace_sec = 60.0

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
        args, env = _command(api, namespace, f"{club}-worker-{pool}", "worker")
        args[args.index("--metrics-port") + 1] = "0"  # several workers share this machine's ports
        if burst:
            args.append("--burst")
        env.update(env_overrides)
        self.queues = args[args.index("--queues") + 1].split(",")
        super().__init__("worker", args, env, log)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)


class PodApi(_PodProcess):
    """`club-runtime api` as the Club's `<club>-api` Deployment would run it, on a free local port."""

    def __init__(self, api: k8s.ApiClient, namespace: str, club: str, log: Path) -> None:
        args, env = _command(api, namespace, f"{club}-api", "api")
        port = tools.free_port()
        args[args.index("--host") + 1] = "127.0.0.1"
        args[args.index("--port") + 1] = str(port)
        self.url = f"http://127.0.0.1:{port}"
        super().__init__("api", args, env, log)

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
