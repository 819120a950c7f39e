"""Where the stack's binaries are: Go-built tools in the versioned cache that hack/tools.sh fills,
and Debian's packages on the PATH."""

from __future__ import annotations

import functools
import glob
import shutil
import socket
import subprocess
from pathlib import Path

HACK_DIR = Path(__file__).resolve().parent.parent
TOOLS_SH = HACK_DIR / "tools.sh"


@functools.cache
def bindir(tool: str) -> Path:
    """The cache folder holding `tool`'s binaries (etcd, kubernetes, kwok, minio, helm)."""
    out = subprocess.run(["bash", str(TOOLS_SH), "bindir", tool], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def go_binary(tool: str, binary: str | None = None) -> Path:
    path = bindir(tool) / (binary or tool)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make tools` (hack/tools.sh) first")
    return path


def system_binary(name: str) -> Path:
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed: run `make tools` (hack/tools.sh apt) first")
    return Path(found)


@functools.cache
def postgres_bindir() -> Path:
    """Debian installs PostgreSQL's server binaries in a versioned folder off the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise FileNotFoundError("PostgreSQL server is not installed: run `make tools` first")
    return Path(found[-1]).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@functools.cache
def pinned_versions() -> dict[str, str]:
    """The pins in hack/versions.env, as NAME -> value."""
    pins = {}
    for line in (HACK_DIR / "versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pins[name] = value
    return pins


@functools.cache
def host_address() -> str | None:
    """The host's primary IPv4 address (the source of its default route), which the real node's pods
    reach the stack's servers at; None on a machine with no default route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            # Connecting a UDP socket sends nothing: it only picks the route and its source address.
            sock.connect(("203.0.113.1", 9))
        except OSError:
            return None
        address: str = sock.getsockname()[0]
    return None if address.startswith("127.") else address
