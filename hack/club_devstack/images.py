"""The runtime and operator images: built with podman from images/Containerfile and pushed to the
stack's registry (registry.py), once per change of what goes into them.

Each image is tagged `<version>-<inputs digest>`: a digest of the Containerfile, pyproject.toml,
uv.lock, the two source trees and the base image's name (`inputs_digest`). `ensure_images` asks the
registry for that tag and does nothing more when it is there; else it pushes the image podman
already holds under that tag, or builds it first. The registry's storage and podman's are both
outside the checkout, so a new stack or a new clone on the same machine builds nothing again.
The build's context is a folder holding exactly the digested files, so the digest cannot miss one.

The base: users with a registry build FROM the public `python:3.11-slim-bookworm` (the
Containerfile's default). No registry is reachable here, so by default the base is made from Debian's
packages with mmdebstrap (bookworm, python3.11) and imported into podman, once per recipe.

podman, not docker.io or buildah alone: it builds from the same Containerfile (buildah's engine,
with cache and secret mounts), pushes, and runs the images for the tests, with no daemon to start on
a machine without systemd; a docker user builds the same file with `docker build`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from club_devstack import registry, tools

if TYPE_CHECKING:
    from club_devstack.stack import StackInfo

REPO = tools.HACK_DIR.parent
CONTAINERFILE = "images/Containerfile"
INPUT_FILES = (CONTAINERFILE, "pyproject.toml", "uv.lock")
INPUT_TREES = ("operator/src", "runtime/src")
# Image name -> the Containerfile's build target.
TARGETS = {"club-runtime": "runtime", "club-operator": "operator"}

PUBLIC_BASE = "docker.io/library/python:3.11-slim-bookworm"
DEBIAN_SUITE = "bookworm"
# What the Containerfile needs of its base: python3 (3.11) with venv, useradd, CA certificates.
DEBIAN_BASE_PACKAGES = ("python3", "python3-venv", "passwd", "ca-certificates")
_DEBIAN_BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Progress = Callable[[str], None]


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


# --- pure parts -------------------------------------------------------------------------------


def inputs_digest(files: Mapping[str, bytes], base: str) -> str:
    """A digest of everything an image is built from: each file's path and content, and the base."""
    digest = hashlib.sha256()
    digest.update(b"base\0" + base.encode() + b"\0")
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def image_tag(version: str, digest: str) -> str:
    return f"{version}-{digest[:12]}"


def debian_base_command(output: Path) -> list[str]:
    """mmdebstrap's command line for the Debian base: apt (the runtime stage installs ffmpeg), merged
    /usr without the usrmerge package (it pulls in perl), no documentation, manuals or translations."""
    argv = ["mmdebstrap", "--variant=apt", f"--include={','.join(DEBIAN_BASE_PACKAGES)}"]
    argv += ["--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]
    for pattern in ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*"):
        argv.append(f"--dpkgopt=path-exclude={pattern}")
    argv.append("--dpkgopt=path-include=/usr/share/doc/*/copyright")
    return [*argv, DEBIAN_SUITE, str(output)]


def debian_base_ref() -> str:
    """The name podman holds the Debian base under: it changes with the recipe."""
    recipe = json.dumps([*debian_base_command(Path("-"))[:-1], _DEBIAN_BASE_PATH]).encode()
    return f"localhost/club-base:{DEBIAN_SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"


def is_build_step(line: str) -> bool:
    """The lines of podman's build output worth showing as progress: one per Containerfile step."""
    return re.match(r"^(\[\d+/\d+\] )?STEP \d+/\d+: ", line) is not None


# --- inputs -----------------------------------------------------------------------------------


def collect_inputs(repo: Path = REPO) -> dict[str, bytes]:
    """The files the images are built from, by path relative to the repository (no bytecode)."""
    files = {path: (repo / path).read_bytes() for path in INPUT_FILES}
    for tree in INPUT_TREES:
        for file in sorted((repo / tree).rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                files[file.relative_to(repo).as_posix()] = file.read_bytes()
    return files


def project_version(repo: Path = REPO) -> str:
    version: str = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]
    return version


@dataclass(frozen=True)
class Images:
    """References of the images in a registry, as a pod names them."""

    runtime: str
    operator: str


@dataclass(frozen=True)
class Build:
    name: str
    tag: str
    seconds: float | None  # None when podman already held the image


def local_ref(name: str, tag: str) -> str:
    return f"localhost/{name}:{tag}"


# --- podman -----------------------------------------------------------------------------------


def _podman(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )


def _check(done: subprocess.CompletedProcess[str], what: str) -> str:
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (podman exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def image_present(ref: str) -> bool:
    return _podman("image", "exists", ref).returncode == 0


def image_size(ref: str) -> int:
    """The image's size unpacked, in bytes, as `podman images` shows it."""
    return int(_check(_podman("image", "inspect", "--format", "{{.Size}}", ref), f"inspect {ref}").strip())


def _ca_bundle() -> Path | None:
    """The host's CA bundle, passed to the build for HTTPS through a proxy that has its own CA."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _logs_dir() -> Path:
    logs = registry.cache_dir() / "images" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def _run_logged(argv: Sequence[str], log: Path, progress: Progress, env: Mapping[str, str]) -> None:
    """Run a build, its whole output into `log` and each step's line to `progress`."""
    with (
        log.open("w") as out,
        subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env}
        ) as proc,
    ):
        for line in proc.stdout or ():
            out.write(line)
            if is_build_step(line):
                progress(f"  {line.strip()[:150]}")
        code = proc.wait()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{argv[0]} {argv[1]} failed (exit {code}); see {log}\n{tail}")


def ensure_debian_base(progress: Progress = say) -> str:
    """Make the Debian base with mmdebstrap and import it into podman, unless podman holds it."""
    ref = debian_base_ref()
    if image_present(ref):
        return ref
    progress(f"Debian base {ref}: mmdebstrap {DEBIAN_SUITE} (first time only; a minute or two)")
    started = time.monotonic()
    work = registry.cache_dir() / "images"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix="base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        _run_logged(debian_base_command(tarball), _logs_dir() / "debian-base.log", progress, {})
        changes = ["--change", f"ENV=PATH={_DEBIAN_BASE_PATH}", "--change", 'CMD=["/bin/bash"]']
        _check(_podman("import", *changes, str(tarball), ref), f"podman import of {ref}")
    progress(f"Debian base {ref}: made in {time.monotonic() - started:.0f}s, {image_size(ref) / 1e6:.0f} MB")
    return ref


def build_image(
    name: str,
    tag: str,
    base: str,
    inputs: Mapping[str, bytes],
    *,
    cold: bool = False,
    tag_version: bool = True,
    progress: Progress = say,
) -> float:
    """Build `name` from `inputs` as localhost/name:tag; returns the seconds it took. `cold` builds
    every layer again and gives the package managers empty caches: the time of a first build.
    `tag_version` also tags it localhost/name:<version>, what `push` pushes beside the digest tag."""
    version = tag.split("-", 1)[0]
    started = time.monotonic()
    work = registry.cache_dir() / "images"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix="context-") as context, contextlib.ExitStack() as stack:
        for path, data in inputs.items():
            target = Path(context) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        argv = ["podman", "build", "--network", "host", "-f", str(Path(context) / CONTAINERFILE)]
        argv += ["--target", TARGETS[name], "--build-arg", f"BASE={base}"]
        argv += ["-t", local_ref(name, tag)]
        if tag_version:
            argv += ["-t", local_ref(name, version)]
        bundle = _ca_bundle()
        if bundle:
            argv += ["--secret", f"id=ca-certificates,src={bundle}"]
        env = {}
        if cold:
            argv.append("--no-cache")
            # The cache mounts (uv's and pip's downloads) live under TMPDIR: a fresh one is empty.
            env["TMPDIR"] = stack.enter_context(tempfile.TemporaryDirectory(dir=work, prefix="cold-"))
        argv.append(context)
        _run_logged(argv, _logs_dir() / f"{name}.log", progress, env)
    return time.monotonic() - started


def remove(ref: str) -> None:
    _check(_podman("rmi", ref), f"podman rmi {ref}")


def push(name: str, tags: Sequence[str], target: registry.RegistryInfo) -> None:
    for tag in tags:
        remote = f"docker://{target.host}/{name}:{tag}"
        _check(
            _podman("push", "--tls-verify=false", "--quiet", local_ref(name, tag), remote), f"push {remote}"
        )


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One build and push at a time on this machine; a second waits, then finds the images there."""
    lock = registry.cache_dir() / "images" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_in_registry(
    target: registry.RegistryInfo, *, base: str | None = None, progress: Progress = say
) -> tuple[Images, list[Build]]:
    """Make sure the registry serves both images of the current inputs: build what podman lacks,
    push what the registry lacks. Returns their references and what was built."""
    if shutil.which("podman") is None:
        raise FileNotFoundError("podman is not installed: run `make tools` (hack/tools.sh apt) first")
    inputs = collect_inputs()
    version = project_version()
    builds: list[Build] = []
    refs: dict[str, str] = {}
    with build_lock():
        base_ref = base or ensure_debian_base(progress)
        tag = image_tag(version, inputs_digest(inputs, base_ref))
        for name in TARGETS:
            refs[name] = f"{target.host}/{name}:{tag}"
            if registry.manifest_exists(target, name, tag):
                progress(f"{name}:{tag}: in the registry")
                continue
            seconds = None
            if not image_present(local_ref(name, tag)):
                progress(f"{name}:{tag}: building (first time for these inputs; minutes)")
                seconds = build_image(name, tag, base_ref, inputs, progress=progress)
                progress(f"{name}:{tag}: built in {seconds:.0f}s")
            push(name, [tag, version], target)
            progress(f"{name}:{tag}: pushed to {target.host}")
            builds.append(Build(name, tag, seconds))
    return Images(runtime=refs["club-runtime"], operator=refs["club-operator"]), builds


def ensure_images(stack: StackInfo, *, progress: Progress = say) -> Images:
    """The runtime and operator images in the stack's registry, built and pushed if missing."""
    images, _ = ensure_in_registry(stack.registry, progress=progress)
    return images


def registry_size(target: registry.RegistryInfo, ref: str) -> int:
    """An image's size as the registry stores it (compressed layers and config), in bytes."""
    name, _, tag = ref.removeprefix(f"{target.host}/").partition(":")
    manifest = registry.manifest(target, name, tag)
    layers: list[dict[str, Any]] = manifest["layers"]
    return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in layers)


def run_args() -> list[str]:
    """`podman run` options this machine needs: root here lacks CAP_SYS_RESOURCE, so runc cannot
    raise the open-files and processes limits podman asks for by default; ask for lower ones."""
    return ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def run_argv(
    ref: str,
    args: Sequence[str],
    *,
    entrypoint: str | None = None,
    pull: bool = True,
    env_names: Sequence[str] = (),
    host_network: bool = False,
) -> list[str]:
    """podman's arguments for `run`: environment by name only, so no value is on the command line."""
    argv = ["run", "--rm", "--read-only", *run_args()]
    argv += ["--network", "host" if host_network else "none"]
    if pull:
        argv += ["--pull", "always", "--tls-verify=false"]
    if entrypoint:
        argv += ["--entrypoint", entrypoint]
    for name in env_names:
        argv += ["--env", name]  # a name alone: podman passes its own value of the variable
    return [*argv, ref, *args]


def run(
    ref: str,
    *args: str,
    entrypoint: str | None = None,
    pull: bool = True,
    env: Mapping[str, str] | None = None,
    host_network: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run an image's command once, as its pods do (its own user, a read-only root filesystem), and
    return what it printed. `pull` fetches the image from the registry its reference names (plain
    HTTP) instead of using what podman holds. `env` reaches the container without appearing on any
    command line (values may be credentials); `host_network` gives it the host's network (the
    stack's servers), else it has none."""
    env = env or {}
    argv = run_argv(
        ref, args, entrypoint=entrypoint, pull=pull, env_names=list(env), host_network=host_network
    )
    return _podman(*argv, env=env)
