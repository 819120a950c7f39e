"""The errors a person meets with `kubectl club`, each one line on stderr and exit status 1: no such
Club, no permission (a ServiceAccount without the right), the operator not installed (an API
server without the CRDs), the cluster unreachable; and `revoke` without a terminal and without
--yes, which changes nothing."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import kube, tools
from club_devstack.stack import StackInfo
from tests.integration.kubectl.conftest import Plugin, one_error_line
from tests.support import clubs, crds

CLUB = "errors-fc"
REQUESTS = {"footballclub.io/rotate", "footballclub.io/revoke"}


def _kubeconfig(stack: StackInfo, path: Path, *, server: str | None = None, token: str | None = None) -> Path:
    """The stack's kubeconfig, with another server address or a ServiceAccount's token as the user."""
    config: dict[str, Any] = json.loads(stack.kube.kubeconfig.read_text())
    if server is not None:
        config["clusters"][0]["cluster"]["server"] = server
    if token is not None:
        for user in config["users"]:
            user["user"] = {"token": token}
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def club(custom: k8s.CustomObjectsApi, namespace: str) -> str:
    """A Club object (no operator runs here: what the plugin reads and writes is the object alone)."""
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Errors FC"}, CLUB))
    return CLUB


def test_no_such_club(plugin: Plugin, custom: k8s.CustomObjectsApi, namespace: str) -> None:
    for args in (["status", "nope"], ["rotate", "nope"], ["backup", "nope"], ["logs", "nope"]):
        line = one_error_line(plugin(*args, "-n", namespace))
        assert line == f'error: Club "nope" not found in namespace "{namespace}"', args


def _service_account_token(core: k8s.CoreV1Api, namespace: str, name: str) -> str:
    core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name))
    )
    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token: str = core.create_namespaced_service_account_token(name, namespace, request).status.token
    return token


def test_no_permission(
    plugin: Plugin,
    stack: StackInfo,
    kube_api: k8s.ApiClient,
    core: k8s.CoreV1Api,
    custom: k8s.CustomObjectsApi,
    namespace: str,
    club: str,
    tmp_path: Path,
) -> None:
    """A ServiceAccount with no Role is refused the Club; one that may only get Clubs is refused the
    rotate annotation's patch, and the Club keeps no annotation."""
    nobody = _kubeconfig(stack, tmp_path / "nobody", token=_service_account_token(core, namespace, "nobody"))
    line = one_error_line(plugin("status", club, "-n", namespace, kubeconfig=nobody))
    assert line.startswith(f'error: reading Club "{club}" in namespace "{namespace}": forbidden: ')
    assert f'User "system:serviceaccount:{namespace}:nobody" cannot get resource "clubs"' in line

    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    rule = k8s.V1PolicyRule(api_groups=["footballclub.io"], resources=["clubs"], verbs=["get", "list"])
    rbac.create_namespaced_role(namespace, k8s.V1Role(metadata=k8s.V1ObjectMeta(name="reader"), rules=[rule]))
    rbac.create_namespaced_role_binding(
        namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="reader"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="reader"),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        ),
    )
    reader = _kubeconfig(stack, tmp_path / "reader", token=_service_account_token(core, namespace, "reader"))

    # The binding takes effect once the authorizer's cache has it: then the Clubs are listed, and
    # the next read (ClubBackups) is the one refused.
    def refused_later() -> subprocess.CompletedProcess[str] | None:
        result = plugin("status", "-n", namespace, kubeconfig=reader)
        return result if "clubbackups" in result.stderr else None

    listed = clubs.wait_for("the reader's Role to take effect", refused_later, timeout=30)
    assert 'cannot list resource "clubbackups"' in one_error_line(listed)
    line = one_error_line(plugin("rotate", club, "-n", namespace, "--reason", "test", kubeconfig=reader))
    assert line.startswith(f'error: patching Club "{club}" in namespace "{namespace}": forbidden: ')
    assert 'cannot patch resource "clubs"' in line
    found = clubs.get_club(custom, namespace, club)
    assert found is not None
    assert REQUESTS.isdisjoint(found["metadata"].get("annotations") or {})


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A control plane of its own without the operator's CRDs: the stack's is shared with every
    other test, which need them."""
    root = tmp_path_factory.mktemp("bare")
    procs, info = kube.start_control_plane(root, root / "logs", gpu_nodes=0)
    try:
        yield info.kubeconfig
    finally:
        for proc in reversed(procs):
            proc.stop()


def test_operator_not_installed(plugin: Plugin, bare_cluster: Path) -> None:
    for args in (["status", "x"], ["status", "-A"], ["backups", "x"], ["rotate", "x"]):
        line = one_error_line(plugin(*args, kubeconfig=bare_cluster))
        assert line == (
            "error: the API server does not serve clubs.footballclub.io: the club operator's CRDs are not "
            "installed (kubectl apply --server-side -f crds/)"
        ), args


def test_cluster_unreachable(plugin: Plugin, stack: StackInfo, tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{tools.free_port()}"
    closed = _kubeconfig(stack, tmp_path / "closed", server=server)
    line = one_error_line(plugin("status", "-A", kubeconfig=closed))
    assert line.startswith(f"error: cannot reach the cluster at {server}: ")
    assert "Connection refused" in line


def test_revoke_without_a_terminal_or_yes_does_nothing(
    plugin: Plugin, custom: k8s.CustomObjectsApi, namespace: str, club: str
) -> None:
    line = one_error_line(plugin("revoke", club, "-n", namespace, "--reason", "key leaked"))
    assert "no terminal to ask on; run it with --yes. Nothing was changed" in line
    found = clubs.get_club(custom, namespace, club)
    assert found is not None
    assert REQUESTS.isdisjoint(found["metadata"].get("annotations") or {})

    done = plugin("revoke", club, "-n", namespace, "--reason", "key leaked", "--yes")
    assert done.returncode == 0, done.stderr
    found = clubs.get_club(custom, namespace, club)
    assert found is not None
    value = found["metadata"]["annotations"]["footballclub.io/revoke"]
    assert value.startswith("key leaked (")
    assert f"club.footballclub.io/{club} revocation requested (footballclub.io/revoke={value})" in done.stdout


def test_revoke_on_a_terminal_asks_for_the_clubs_name(
    plugin: Plugin, custom: k8s.CustomObjectsApi, namespace: str, club: str
) -> None:
    def revoke(answer: str) -> subprocess.CompletedProcess[str]:
        controller, terminal = pty.openpty()
        try:
            os.write(controller, f"{answer}\n".encode())  # the terminal holds the line until it is read
            return subprocess.run(
                [plugin.kubectl, "club", "revoke", club, "-n", namespace, "--reason", "drill"],
                env=plugin.env,
                stdin=terminal,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            os.close(terminal)
            os.close(controller)

    refused = revoke("another-fc")
    assert refused.returncode == 1
    assert (
        refused.stderr.splitlines()[-1]
        == f'error: not revoking Club "{club}": not confirmed. Nothing was changed'
    )
    found = clubs.get_club(custom, namespace, club)
    assert found is not None
    assert REQUESTS.isdisjoint(found["metadata"].get("annotations") or {})

    confirmed = revoke(club)
    assert confirmed.returncode == 0, confirmed.stderr
    found = clubs.get_club(custom, namespace, club)
    assert found is not None
    assert found["metadata"]["annotations"]["footballclub.io/revoke"].startswith("drill (")


def test_the_contexts_namespace_and_context_flag(
    plugin: Plugin, stack: StackInfo, namespace: str, club: str, tmp_path: Path
) -> None:
    """Without -n the context's namespace is used, as kubectl does; --context picks another context."""
    config: dict[str, Any] = json.loads(stack.kube.kubeconfig.read_text())
    (context,) = config["contexts"]
    config["contexts"].append({"name": "clubs", "context": {**context["context"], "namespace": namespace}})
    path = tmp_path / "contexts"
    path.write_text(json.dumps(config))
    assert one_error_line(plugin("status", club, kubeconfig=path)) == (
        f'error: Club "{club}" not found in namespace "default"'
    )
    shown = plugin("status", club, "--context", "clubs", "-o", "json", kubeconfig=path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["namespace"] == namespace
