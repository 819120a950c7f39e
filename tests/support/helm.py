"""The chart in charts/club-operator, through the pinned helm (hack/tools.sh) and kubectl, for tests.

Values are passed as JSON per top-level key (`--set-json`), so a test states them as Python data.
`template` renders offline for the stack's Kubernetes version (a helm built from its Go module
reports no Kubernetes version of its own, and the chart asks for at least 1.30). `previous_chart`
takes the chart's previous version out of git history, for upgrade tests (CI runs on a full clone)."""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from club_devstack import tools
from club_devstack.stack import StackInfo

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "club-operator"
# The last commit of the chart's previous version (0.1.0: the Club CRD without the Message column),
# which `helm upgrade` to the working tree's chart is tested from.
PREVIOUS_VERSION = "0.1.0"
PREVIOUS_COMMIT = "33688199df854fa2155789c91c71122911b9e8d2"


def previous_chart(dest: Path) -> Path:
    """The chart as it was at PREVIOUS_COMMIT, extracted under `dest`: its folder."""
    archive = dest / "previous-chart.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), PREVIOUS_COMMIT, "charts/club-operator"],
        check=True,
        capture_output=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    chart = dest / "charts" / "club-operator"
    version = yaml.safe_load((chart / "Chart.yaml").read_text())["version"]
    if version != PREVIOUS_VERSION:
        raise LookupError(f"the chart at {PREVIOUS_COMMIT[:12]} is {version}, not {PREVIOUS_VERSION}")
    return chart


def kubernetes_version() -> str:
    """The stack's Kubernetes version (hack/versions.env)."""
    for line in (ROOT / "hack" / "versions.env").read_text().splitlines():
        if line.startswith("KUBERNETES_VERSION="):
            return line.split("=", 1)[1].strip()
    raise LookupError("hack/versions.env has no KUBERNETES_VERSION")


def value_args(values: Mapping[str, Any]) -> list[str]:
    return [a for key, value in values.items() for a in ("--set-json", f"{key}={json.dumps(value)}")]


def helm(*args: str, stack: StackInfo | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm (against the stack's API server when given); a failure raises with helm's output."""
    argv = [str(tools.go_binary("helm")), *args]
    if stack is not None:
        argv += ["--kubeconfig", str(stack.kube.kubeconfig)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def render(values: Mapping[str, Any], *, release: str = "club", namespace: str = "club-system") -> str:
    """`helm template` of the chart with `values`: the manifests' text."""
    return helm(
        "template", release, str(CHART), "--namespace", namespace,
        "--kube-version", kubernetes_version(), *value_args(values),
    ).stdout  # fmt: skip


def objects(text: str) -> list[dict[str, Any]]:
    """The objects of a rendered manifest stream (documents left empty by a switch dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kubectl(
    stack: StackInfo, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done


def apply(
    stack: StackInfo, items: Sequence[Mapping[str, Any]], *, dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    """Server-side apply of `items` (with `dry_run`, the API server validates, admits and stores nothing)."""
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})
    args = ["apply", "--server-side", "--force-conflicts", "--field-manager=club-chart-tests", "-f", "-"]
    return kubectl(stack, *args, *(["--dry-run=server"] if dry_run else []), stdin=listed)
