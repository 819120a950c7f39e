"""PostgreSQL, Redis and MinIO as local processes on free ports, each with a throwaway data folder.

Each listens on the host's address (tools.host_address) where it has one, not only on loopback: the
real node's pods reach them there, and so does every process on the host, so the connection info
handed out (and written into the Clubs' server Secrets) is that address.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg

from club_devstack import node_config, tools
from club_devstack.procs import Process

LOOPBACK = "127.0.0.1"


def server_address() -> str:
    """Where the stack's servers are reached: the host's address, or loopback on a machine without one."""
    return tools.host_address() or LOOPBACK


def _listen_addresses(address: str) -> list[str]:
    return [LOOPBACK] if address == LOOPBACK else [LOOPBACK, address]


@dataclass(frozen=True)
class PostgresInfo:
    host: str
    port: int
    user: str
    password: str

    def dsn(self, dbname: str = "postgres", *, user: str | None = None, password: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user or self.user,
            password=password if user else self.password,
        )


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: then run it as Debian's `postgres` system user."""
    return "postgres" if os.geteuid() == 0 else None


def init_postgres(root: Path) -> tuple[Path, str]:
    """initdb a new cluster under `root`; returns its data folder and the superuser's password."""
    bindir = tools.postgres_bindir()
    data = root / "postgres"
    data.mkdir(mode=0o700)
    user = _server_user()
    password = secrets.token_urlsafe(24)
    pwfile = root / "postgres.pw"
    pwfile.write_text(password + "\n")
    if user:
        shutil.chown(data, user)
        shutil.chown(pwfile, user)
    argv = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile)]
    argv += ["--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-instructions"]
    done = subprocess.run(argv, capture_output=True, text=True, user=user, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed in {root}: {done.stderr.strip()}")
    pwfile.unlink()
    # initdb lets TCP clients in from loopback only: also the host's address and the node's pods.
    with (data / "pg_hba.conf").open("a") as hba:
        for network in (f"{server_address()}/32", node_config.NODE_NETWORKS):
            hba.write(f"host all all {network} scram-sha-256\n")
    return data, password


def run_postgres(data: Path, info: PostgresInfo, logs: Path) -> Process:
    """Start the server of an initialised cluster and wait until it accepts connections."""
    settings = {
        "listen_addresses": ",".join(_listen_addresses(info.host)),
        # A test database needs no durability; these make it several times faster.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
    }
    argv = [str(tools.postgres_bindir() / "postgres"), "-D", str(data), "-p", str(info.port), "-k", str(data)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    proc = Process("postgres", argv, logs / "postgres.log", user=_server_user())

    def accepts_connections() -> bool:
        with psycopg.connect(info.dsn(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    proc.wait_ready(accepts_connections, timeout=60)
    return proc


def start_postgres(root: Path, logs: Path) -> tuple[Process, PostgresInfo]:
    data, password = init_postgres(root)
    info = PostgresInfo(server_address(), tools.free_port(), "postgres", password)
    return run_postgres(data, info, logs), info


@dataclass(frozen=True)
class RedisInfo:
    host: str
    port: int
    databases: int
    # The default user's: Redis reachable beyond loopback has a password (else protected mode
    # refuses those clients), and no pod can log in as the default user, bypassing the Clubs' ACLs.
    password: str = ""

    def url(self, db: int = 0) -> str:
        auth = f":{urllib.parse.quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def address(self) -> str:
        return f"{self.host}:{self.port}"


def start_redis(root: Path, logs: Path) -> tuple[Process, RedisInfo]:
    data = root / "redis"
    data.mkdir()
    info = RedisInfo(server_address(), tools.free_port(), databases=256, password=secrets.token_urlsafe(24))
    return run_redis(data, info, logs), info


def run_redis(data: Path, info: RedisInfo, logs: Path) -> Process:
    """Start a Redis server for `info` in the folder `data` and wait until its port is open. Nothing
    is persisted: a server started again on the same folder starts empty (no keys, no ACL users)."""
    # The password goes in a file, not on the command line, where any local user could read it.
    conf = data / "redis.conf"
    conf.write_text(f'requirepass "{info.password}"\n')
    conf.chmod(0o600)
    argv = [str(tools.system_binary("redis-server")), str(conf), "--port", str(info.port)]
    argv += ["--bind", *_listen_addresses(info.host)]
    argv += ["--dir", str(data), "--save", "", "--appendonly", "no", "--databases", str(info.databases)]
    proc = Process("redis", argv, logs / "redis.log")
    proc.wait_ready(lambda: tools.port_open(info.port), timeout=30)
    return proc


@dataclass(frozen=True)
class MinioInfo:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A boto3 S3 client with the admin credentials, or with the given ones."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )


def start_minio(root: Path, logs: Path) -> tuple[Process, MinioInfo]:
    data = root / "minio"
    data.mkdir()
    endpoint = f"http://{server_address()}:{tools.free_port()}"
    info = MinioInfo(endpoint, "devstack-admin", secrets.token_urlsafe(24))
    return run_minio(data, info, logs), info


def run_minio(data: Path, info: MinioInfo, logs: Path) -> Process:
    """Start a MinIO server for `info` (listening at its endpoint's address) on the folder `data`
    and wait until it is ready; started again on the same folder, it serves the same buckets."""
    address = urllib.parse.urlsplit(info.endpoint).netloc
    proc = Process(
        "minio",
        [
            str(tools.go_binary("minio")),
            "server",
            str(data),
            "--address",
            address,
            "--console-address",
            f"{LOOPBACK}:{tools.free_port()}",
            "--quiet",
        ],
        logs / "minio.log",
        env={
            "MINIO_ROOT_USER": info.access_key,
            "MINIO_ROOT_PASSWORD": info.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "HOME": str(data.parent / "minio-home"),
        },
    )

    def healthy() -> bool:
        with urllib.request.urlopen(f"{info.endpoint}/minio/health/ready", timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)

    proc.wait_ready(healthy, timeout=60)
    return proc
