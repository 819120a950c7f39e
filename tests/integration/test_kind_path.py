"""What of `make kind-e2e` can be checked without Docker or kind (hack/kind-e2e.sh): kind-cluster.yaml
read by kind's own configuration types (strictly: a misspelt field fails), config/kind/'s servers
accepted by a real API server (a server-side dry run), and the script's and target's shell syntax.
The run itself needs Docker and the kindest/node image; the e2e suite it runs passes on the local
stack (tests/e2e/test_any_cluster.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from club_devstack import node_config
from club_devstack.stack import StackInfo

REPO = Path(__file__).resolve().parents[2]
KIND_CONFIG_LOADER = REPO / "hack" / "go" / "kindconfig"


def _load_with_kind(path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("go") is None:
        pytest.fail("go is not installed: run `make tools`")
    return subprocess.run(
        ["go", "run", ".", str(path)],
        cwd=KIND_CONFIG_LOADER,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_kind_reads_the_cluster_config_with_its_own_types() -> None:
    done = _load_with_kind(REPO / "kind-cluster.yaml")
    assert done.returncode == 0, done.stderr
    cluster = json.loads(done.stdout)
    assert [n["role"] for n in cluster["nodes"]] == ["control-plane", "worker", "worker"]
    assert [n.get("labels", {}).get(node_config.POOL_LABEL) for n in cluster["nodes"]] == [None, "cpu", "gpu"]


def test_kinds_loader_refuses_a_misspelt_field(tmp_path: Path) -> None:
    bad = tmp_path / "kind.yaml"
    bad.write_text((REPO / "kind-cluster.yaml").read_text().replace("labels:", "lables:", 1))
    done = _load_with_kind(bad)
    assert done.returncode == 1
    assert "lables" in done.stderr


def test_the_kind_servers_are_valid_for_an_api_server(stack: StackInfo, namespace: str) -> None:
    kubectl = [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig)]
    done = subprocess.run(
        [*kubectl, "apply", "--dry-run=server", "-n", namespace, "-f", str(REPO / "config" / "kind")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for created in ("deployment.apps/postgres", "service/redis", "deployment.apps/minio"):
        assert f"{created} created (server dry run)" in done.stdout


def test_the_kind_e2e_script_and_target_parse() -> None:
    done = subprocess.run(
        ["bash", "-n", "hack/kind-e2e.sh"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    dry = subprocess.run(["make", "-n", "kind-e2e"], cwd=REPO, capture_output=True, text=True, check=False)
    assert dry.returncode == 0, dry.stderr
    assert "hack/kind-e2e.sh" in dry.stdout
    listed = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, check=False)
    assert "kind-e2e" in listed.stdout
