"""The whole local stack: start every part, describe how to reach it, stop it all.

with Stack.start() as stack:
    stack.info.kube.kubeconfig, stack.info.postgres.dsn(), stack.info.redis.url(), ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from club_devstack import datastores, kube, tools
from club_devstack.procs import Process


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
                f"Redis       {self.redis.url()}  ({self.redis.databases} databases)",
                f"MinIO (S3)  {self.minio.endpoint}  access key {self.minio.access_key}"
                f"  secret key in {self.root / 'stack.json'}",
                f"ffmpeg      {self.ffmpeg}",
                f"logs        {self.root / 'logs'}",
            ]
        )


class Stack:
    def __init__(self, root: Path, procs: list[Process], info: StackInfo) -> None:
        self.root = root
        self.procs = procs
        self.info = info

    @classmethod
    @contextlib.contextmanager
    def start(cls, root: Path | None = None, *, keep: bool = False, gpu_nodes: int = 1) -> Iterator[Stack]:
        """Start everything; on exit stop it all and (unless `keep`) delete the run's folder."""
        root = root or Path(tempfile.mkdtemp(prefix="club-stack-"))
        # PostgreSQL may run as another user (never as root): it must be able to reach its folder.
        root.chmod(0o755)
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        procs: list[Process] = []
        try:
            pg_proc, pg = datastores.start_postgres(root, logs)
            procs.append(pg_proc)
            redis_proc, redis = datastores.start_redis(root, logs)
            procs.append(redis_proc)
            minio_proc, minio = datastores.start_minio(root, logs)
            procs.append(minio_proc)
            kube_procs, kube_info = kube.start_control_plane(root, logs, gpu_nodes=gpu_nodes)
            procs.extend(kube_procs)
            info = StackInfo(
                root=root,
                kube=kube_info,
                postgres=pg,
                redis=redis,
                minio=minio,
                kubectl=tools.go_binary("kubernetes", "kubectl"),
                ffmpeg=tools.system_binary("ffmpeg"),
                ffprobe=tools.system_binary("ffprobe"),
            )
            stack_file = root / "stack.json"
            stack_file.write_text(info.to_json())
            stack_file.chmod(0o600)
            yield cls(root, procs, info)
        finally:
            for proc in reversed(procs):
                proc.stop()
            if not keep:
                shutil.rmtree(root, ignore_errors=True)

    def dead(self) -> list[str]:
        return [p.name for p in self.procs if not p.alive()]


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
