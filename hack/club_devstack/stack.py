"""The whole local stack: start every part, describe how to reach it, stop it all.

with Stack.start() as stack:
    stack.info.kube.kubeconfig, stack.info.postgres.dsn(), stack.info.redis.url(), ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from club_devstack import datastores, keda, kube, metrics_server, tools
from club_devstack import node as node_module
from club_devstack import registry as registry_module
from club_devstack.procs import Process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackInfo:
    root: Path
    kube: kube.KubeInfo
    postgres: datastores.PostgresInfo
    redis: datastores.RedisInfo
    minio: datastores.MinioInfo
    kubectl: Path
    ffmpeg: Path
    ffprobe: Path
    registry: registry_module.RegistryInfo
    # The real node (node.py); None when the stack runs without one.
    node: node_module.NodeInfo | None = None

    def to_json(self) -> str:
        def default(value: Any) -> Any:
            return str(value) if isinstance(value, Path) else value

        return json.dumps(dataclasses.asdict(self), default=default, indent=2)

    def describe(self) -> str:
        pg = self.postgres
        return "\n".join(
            [
                f"Kubernetes {self.kube.version}  {self.kube.server}",
                f"  export KUBECONFIG={self.kube.kubeconfig}",
                f"  kubectl: {self.kubectl}",
                f"PostgreSQL  {pg.dsn()}",
                f"Redis       redis://{self.redis.address()}  ({self.redis.databases} databases)"
                f"  password in {self.root / 'stack.json'}",
                f"MinIO (S3)  {self.minio.endpoint}  access key {self.minio.access_key}"
                f"  secret key in {self.root / 'stack.json'}",
                f"ffmpeg      {self.ffmpeg}",
                f"registry    {self.registry.url}  (images: make images)",
                self._describe_node(),
                f"logs        {self.root / 'logs'}",
            ]
        )

    def _describe_node(self) -> str:
        if not self.node:
            return "real node  none (only kwok's simulated nodes)"
        taint = self.node.taint
        return (
            f"real node  {self.node.name} {self.node.address}, pods {self.node.pod_cidr},"
            f" Services {self.node.service_cidr};"
            f" pods tolerate {taint['key']}={taint['value']}:{taint['effect']}"
        )


class Stack:
    def __init__(
        self, root: Path, procs: list[Process], info: StackInfo, node: node_module.Node | None
    ) -> None:
        self.root = root
        self.procs = procs
        self.info = info
        self.node = node

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        root: Path | None = None,
        *,
        keep: bool = False,
        gpu_nodes: int = 1,
        keda: bool = False,
        metrics_server: bool = False,
        node: bool | None = None,
        audit: bool = False,
    ) -> Iterator[Stack]:
        """Start everything; on exit stop it all and (unless `keep`) delete the run's folder. With
        `keda`, KEDA's operator and metrics adapter too, and the HPA controller (see keda.py); with
        `metrics_server`, metrics-server for the real node's pods (it needs the node) and the HPA
        controller.
        `node`: True starts the real node (node.py) or fails, None starts it where this machine can
        run it (saying why not where it cannot), False leaves it out. `audit`: the API server writes
        an audit log of the service accounts' requests (kube.AUDIT_LOG in the logs folder)."""
        root = root or Path(tempfile.mkdtemp(prefix="club-stack-"))
        # PostgreSQL may run as another user (never as root): it must be able to reach its folder.
        root.chmod(0o755)
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[Process] = []
        real_node: node_module.Node | None = None
        slot: node_module.Slot | None = None
        try:
            pg_proc, pg = datastores.start_postgres(root, logs)
            procs.append(pg_proc)
            redis_proc, redis = datastores.start_redis(root, logs)
            procs.append(redis_proc)
            minio_proc, minio = datastores.start_minio(root, logs)
            procs.append(minio_proc)
            registry_proc, registry_info = registry_module.start_registry(root, logs)
            procs.append(registry_proc)
            # The node's slot first: it decides the Service ClusterIP range, which the host routes to
            # that node (so each stack's range is its own).
            if node is not False:
                slot = _claim_node_slot(root, required=bool(node))
            service_cidr = slot.net.service_cidr if slot else kube.SERVICE_CIDR
            kube_procs, kube_info = kube.start_control_plane(
                root,
                logs,
                gpu_nodes=gpu_nodes,
                hpa=keda or metrics_server,
                service_cidr=service_cidr,
                audit=audit,
            )
            procs.extend(kube_procs)
            if keda:
                procs.extend(_start_keda(root, logs, kube_info))
            node_info = None
            if slot:
                real_node, node_info = _start_node(
                    root, logs, kube_info, registry_info.host, slot, required=bool(node)
                )
            if metrics_server:
                procs.append(_start_metrics_server(root, logs, kube_info, node_info))
            info = StackInfo(
                root=root,
                kube=kube_info,
                postgres=pg,
                redis=redis,
                minio=minio,
                kubectl=tools.go_binary("kubernetes", "kubectl"),
                ffmpeg=tools.system_binary("ffmpeg"),
                ffprobe=tools.system_binary("ffprobe"),
                registry=registry_info,
                node=node_info,
            )
            stack_file = root / "stack.json"
            stack_file.write_text(info.to_json())
            stack_file.chmod(0o600)
            yield cls(root, procs, info, real_node)
        finally:
            try:
                if real_node:
                    real_node.stop()
                elif slot:
                    slot.release()
            finally:
                for proc in reversed(procs):
                    proc.stop()
            if not keep:
                shutil.rmtree(root, ignore_errors=True)

    def dead(self) -> list[str]:
        procs = self.procs + (self.node.procs if self.node else [])
        return [p.name for p in procs if not p.alive()]


def _start_metrics_server(
    root: Path, logs: Path, kube_info: kube.KubeInfo, node_info: node_module.NodeInfo | None
) -> Process:
    if node_info is None:
        raise RuntimeError("metrics-server reads the real node's kubelet, and the stack runs no real node")
    selector = ",".join(f"{k}={v}" for k, v in node_info.labels.items())
    kubectl = tools.go_binary("kubernetes", "kubectl")
    return metrics_server.start_metrics_server(root, logs, kube_info, kubectl, selector)


def _start_keda(root: Path, logs: Path, kube_info: kube.KubeInfo) -> list[Process]:
    return keda.start_keda(root, logs, kube_info, tools.go_binary("kubernetes", "kubectl"))


def _claim_node_slot(root: Path, *, required: bool) -> node_module.Slot | None:
    try:
        return node_module.claim_slot(root)
    except node_module.NodeUnavailable as exc:
        if required:
            raise
        log.warning("starting the stack without a real node: %s", exc)
        return None


def _start_node(
    root: Path, logs: Path, kube_info: kube.KubeInfo, registry: str, slot: node_module.Slot, *, required: bool
) -> tuple[node_module.Node | None, node_module.NodeInfo | None]:
    started = time.monotonic()
    try:
        real_node, info = node_module.start_node(root, logs, kube_info, registry, slot)
    except node_module.NodeUnavailable as exc:
        if required:
            raise
        log.warning("starting the stack without a real node: %s", exc)
        return None, None
    log.info("real node %s Ready in %.1fs", info.name, time.monotonic() - started)
    return real_node, info


def load_info(stack_file: Path) -> StackInfo:
    """Read the description a running stack (`make stack`) wrote, to reuse it instead of starting one."""
    raw = json.loads(stack_file.read_text())
    return StackInfo(
        root=Path(raw["root"]),
        kube=kube.KubeInfo(
            server=raw["kube"]["server"],
            kubeconfig=Path(raw["kube"]["kubeconfig"]),
            version=raw["kube"]["version"],
        ),
        postgres=datastores.PostgresInfo(**raw["postgres"]),
        redis=datastores.RedisInfo(**raw["redis"]),
        minio=datastores.MinioInfo(**raw["minio"]),
        kubectl=Path(raw["kubectl"]),
        ffmpeg=Path(raw["ffmpeg"]),
        ffprobe=Path(raw["ffprobe"]),
        registry=registry_module.RegistryInfo(**raw["registry"]),
        node=node_module.NodeInfo(**raw["node"]) if raw.get("node") else None,
    )


@contextlib.contextmanager
def running() -> Iterator[StackInfo]:
    """The stack a `make stack` is running (its stack.json named by CLUB_STACK_FILE), else a new one
    stopped on exit: what the tests and the benchmarks run against."""
    reuse = os.environ.get("CLUB_STACK_FILE")
    if reuse:
        yield load_info(Path(reuse))
        return
    with Stack.start() as stack:
        yield stack.info


def wait_forever(stack: Stack) -> None:
    """Block until interrupted, failing loudly if any part of the stack dies."""
    while True:
        dead = stack.dead()
        if dead:
            raise SystemExit(f"stopped: {', '.join(dead)} exited; see {stack.root / 'logs'}")
        time.sleep(1)


def default_root() -> Path | None:
    value = os.environ.get("CLUB_STACK_DIR")
    return Path(value) if value else None
