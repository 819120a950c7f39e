"""A rotation of every credential of a Club whose pods run on the stack's real node, under continuous
API load (several clients logging in and reading through the Club's Service, as users do): 0 failed
requests. The rotation is asked for with footballclub.io/rotate: a scheduled one takes the same
steps once its interval (at least an hour) has passed. Afterwards, a token signed with the old key,
and the old database password, S3 key and Redis password are each refused by the real API,
PostgreSQL, MinIO and Redis.

The operator counts the runtime's token lifetime as 0 here (the runtime's own is 15 minutes), so the
old JWT key goes right after the overlap; the clients log in again every few seconds, well within
that overlap, as short sessions do."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack.operator import RunningOperator, real_node_settings, start_operator
from club_devstack.stack import StackInfo
from tests.integration.node.test_club_real_node import _call
from tests.support import api_load, clubs, crds, refusals, rotation

pytestmark = pytest.mark.timeout(1800)

NAME = "rotating-harbour"
CREDENTIALS = ("jwtSigningKey", "redisPassword", "databasePassword", "s3AccessKey", "ownerPassword")
# Small requests: every Deployment rolls with a surge pod, and the node has two CPUs for all of them
# (the video pool's default request, a whole CPU, leaves its surge pod Pending there).
SMALL = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
SPEC = {
    "displayName": "Rotating Harbour",
    "api": {"replicas": 2, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
    "secrets": {"rotation": {"overlap": "20s"}},
}


@pytest.fixture
def rotating_operator(
    stack: StackInfo, runtime_image: str, node_namespace: str, tmp_path: Path
) -> Iterator[RunningOperator]:
    running = start_operator(
        stack,
        tmp_path / "club-operator.log",
        namespaces=[node_namespace],
        resync_interval_sec="5",
        retry_delay_sec="1",
        jwt_token_lifetime_sec="0",
        **real_node_settings(stack, runtime_image),
    )
    yield running
    running.process.stop()


def _rotated(custom: k8s.CustomObjectsApi, namespace: str) -> bool:
    """Every credential's record took up the request and reached Revoked."""
    for credential in CREDENTIALS:
        found = rotation.record(custom, namespace, NAME, credential)
        if found.get("request") != "under-load" or found.get("phase") != "Revoked":
            return False
    return True


def _old(core: k8s.CoreV1Api, namespace: str) -> dict[str, dict[str, str]]:
    return {
        kind: clubs.secret_data(core, namespace, f"{NAME}-{kind}")
        for kind in ("database", "storage", "redis")
    }


def test_a_rotation_of_every_credential_under_load_fails_no_request(
    rotating_operator: RunningOperator,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
    tmp_path: Path,
) -> None:
    assert stack.node is not None
    core = k8s.CoreV1Api(kube_api)
    clubs.create_club(custom, node_namespace, crds.manifest("Club", SPEC, NAME))
    status = clubs.ready_status(custom, node_namespace, NAME, timeout=300)
    service = core.read_namespaced_service(f"{NAME}-api", node_namespace)
    base = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
    owner = clubs.secret_data(core, node_namespace, f"{NAME}-owner")
    code, tokens = _call(
        stack, "POST", f"{base}/api/v1/auth/login", {"email": owner["email"], "password": owner["password"]}
    )
    assert code == 200, tokens
    coach = {"email": "coach@rotating-harbour.example", "password": "a long coach passphrase 7"}
    code, made = _call(
        stack,
        "POST",
        f"{base}/api/v1/users",
        coach | {"role": "coach", "full_name": "Load Coach"},
        token=tokens["access_token"],
    )
    assert code == 201, made
    code, kept = _call(stack, "POST", f"{base}/api/v1/auth/login", coach)
    assert code == 200, kept
    old = _old(core, node_namespace)

    stop, report = tmp_path / "stop", tmp_path / "load.json"
    asked = {
        "base": base,
        "clients": 4,
        "relogin_sec": 8,
        "stop_file": str(stop),
        "report": str(report),
    } | coach
    load = subprocess.Popen(stack.node.netns_command(sys.executable, api_load.__file__, json.dumps(asked)))
    try:
        rotation.request(custom, node_namespace, NAME, "under-load")
        clubs.wait_for(
            "the rotation of every credential to be Revoked",
            lambda: _rotated(custom, node_namespace),
            timeout=900,
            interval=2,
        )
    finally:
        stop.touch()
        load.wait(timeout=60)
    result: dict[str, Any] = json.loads(report.read_text())
    assert result["failures"] == [], result["failures"][:20]
    assert result["logins"] > 4  # every client logged in again during the rotation
    assert result["requests"] > 500

    # Each old credential is refused by the server that holds it.
    code, _ = _call(stack, "GET", f"{base}/api/v1/auth/me", token=kept["access_token"])
    assert code == 401
    assert refusals.database_refuses(old["database"]["dsn"])
    assert refusals.storage_refuses(old["storage"], status["bucket"])
    assert refusals.redis_refuses(old["redis"]["url"])
    new = _old(core, node_namespace)
    assert not refusals.database_refuses(new["database"]["dsn"])
    assert not refusals.storage_refuses(new["storage"], status["bucket"])
    assert not refusals.redis_refuses(new["redis"]["url"])

    _revoke_on_real_pods(stack, custom, core, node_namespace, base, coach, new, status["bucket"])


def _revoke_on_real_pods(
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    base: str,
    coach: dict[str, str],
    old: dict[str, dict[str, str]],
    bucket: str,
) -> None:
    """footballclub.io/revoke on the real pods: once status says Revoked, the API refuses every
    token from before (401) and logs in anew; the data is all there; the servers refuse the
    credentials from before."""
    code, before = _call(stack, "POST", f"{base}/api/v1/auth/login", coach)
    assert code == 200, before
    player = {
        "first_name": "Ada",
        "last_name": "Keeper",
        "position": "GK",
        "preferred_foot": "left",
        "birth_date": "1999-02-03",
    }
    code, made = _call(stack, "POST", f"{base}/api/v1/players", player, token=before["access_token"])
    assert code == 201, made
    code, players = _call(stack, "GET", f"{base}/api/v1/players?limit=100", token=before["access_token"])
    assert code == 200, players
    assert made in players["items"]
    patch = {"metadata": {"annotations": {"footballclub.io/revoke": "drill"}}}
    custom.patch_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs", NAME, patch)
    done = clubs.wait_for(
        "the revocation to be complete",
        lambda: (
            (
                r := ((clubs.get_club(custom, namespace, NAME) or {}).get("status") or {}).get("revocation")
                or {}
            ).get("phase")
            == "Revoked"
            and r.get("request") == "drill"
            and r
        ),
        timeout=600,
        interval=1,
    )
    print(
        f"\nrevocation on the real node: every old credential refused {done['seconds']} s after the request"
    )
    assert _call(stack, "GET", f"{base}/api/v1/auth/me", token=before["access_token"])[0] == 401
    refreshed = _call(
        stack, "POST", f"{base}/api/v1/auth/refresh", {"refresh_token": before["refresh_token"]}
    )
    assert refreshed[0] == 401, refreshed
    code, after = _call(stack, "POST", f"{base}/api/v1/auth/login", coach)
    assert code == 200, after
    assert _call(stack, "GET", f"{base}/api/v1/players?limit=100", token=after["access_token"]) == [
        200,
        players,
    ]
    assert refusals.database_refuses(old["database"]["dsn"])
    assert refusals.storage_refuses(old["storage"], bucket)
    assert refusals.redis_refuses(old["redis"]["url"])
