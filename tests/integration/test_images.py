"""The runtime and operator images, as a node gets them: pushed to the stack's registry (built
first where podman lacks them), served through the registry's HTTP API v2, pulled from it and run."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import psycopg
import pytest

from club_devstack import images, registry
from club_devstack.stack import StackInfo

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def pushed(stack: StackInfo) -> images.Images:
    return images.ensure_images(stack)


def _name_and_tag(stack: StackInfo, ref: str) -> tuple[str, str]:
    name, _, tag = ref.removeprefix(f"{stack.registry.host}/").partition(":")
    return name, tag


def _config(stack: StackInfo, ref: str) -> dict[str, Any]:
    """The image's configuration blob, as a node's runtime reads it from the registry."""
    name, tag = _name_and_tag(stack, ref)
    manifest = registry.manifest(stack.registry, name, tag)
    url = f"{stack.registry.url}/v2/{name}/blobs/{manifest['config']['digest']}"
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the stack's registry
        config: dict[str, Any] = json.load(resp)
    return config


def test_the_registry_serves_both_images_manifests(stack: StackInfo, pushed: images.Images) -> None:
    for ref in (pushed.runtime, pushed.operator):
        name, tag = _name_and_tag(stack, ref)
        assert registry.manifest_exists(stack.registry, name, tag)
        manifest = registry.manifest(stack.registry, name, tag)
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["layers"]
        assert registry.manifest_exists(stack.registry, name, images.project_version())
    assert not registry.manifest_exists(stack.registry, "club-runtime", "no-such-tag")


def test_both_images_run_as_the_pods_non_root_user(stack: StackInfo, pushed: images.Images) -> None:
    runtime, operator = _config(stack, pushed.runtime), _config(stack, pushed.operator)
    assert runtime["config"]["User"] == operator["config"]["User"] == "10001:10001"
    assert runtime["config"]["Entrypoint"] == ["club-runtime"]
    assert operator["config"]["Entrypoint"] == ["club-operator"]


def test_the_runtime_image_runs_the_runtime_ffmpeg_and_postgres_client_tools(pushed: images.Images) -> None:
    help_text = images.run(pushed.runtime, "--help")
    assert help_text.returncode == 0, help_text.stderr
    usage = help_text.stdout.split("\n", 1)[0]
    for command in ("migrate", "api", "worker", "backup", "verify", "restore"):
        assert command in usage, usage
    script = (
        "id -u; ffmpeg -version; ffprobe -version; pg_dump --version; pg_restore --version; psql --version"
    )
    tools = images.run(pushed.runtime, "-c", script, entrypoint="sh")
    assert tools.returncode == 0, tools.stderr
    lines = tools.stdout.splitlines()
    assert lines[0] == "10001"
    assert any(line.startswith("ffmpeg version ") for line in lines)
    for tool in ("pg_dump", "pg_restore", "psql"):
        assert any(line.startswith(f"{tool} (PostgreSQL) ") for line in lines), tool


def test_the_runtime_image_migrates_a_database_of_the_stack(pushed: images.Images, database: str) -> None:
    done = images.run(pushed.runtime, "migrate", env={"DATABASE_ADMIN_URL": database}, host_network=True)
    assert done.returncode == 0, done.stderr
    assert "migrations at head" in done.stdout
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()


def test_the_operator_image_runs_the_operator(pushed: images.Images) -> None:
    done = images.run(pushed.operator, "--help")
    assert done.returncode == 0, done.stderr
    assert "club-operator" in done.stdout
    assert "--namespace" in done.stdout
    # Every module the running operator loads imports in the image (--help loads only __main__).
    loaded = images.run(pushed.operator, "-c", "import club_operator.main", entrypoint="python3")
    assert loaded.returncode == 0, loaded.stderr


def test_a_second_ensure_finds_both_images_and_builds_nothing(
    stack: StackInfo, pushed: images.Images
) -> None:
    said: list[str] = []
    again, builds = images.ensure_in_registry(stack.registry, progress=said.append)
    assert again == pushed
    assert builds == []
    assert sum("in the registry" in line for line in said) == 2
