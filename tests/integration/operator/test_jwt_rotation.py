"""JWT signing key rotation through the operator (rotation.py): the footballclub.io/rotate annotation
takes a Club's key through Issued -> Propagated -> Revoked, each step after the API Deployment's
rollout of the key set before it (kwok's pods: the rollout is observed as on a real node); the
operator restarted in the middle resumes without a second new key; a value rotates once; a token
signed with the old key verifies (with the runtime's own code) until the key is revoked and is
refused after; no key appears in Events, status, the operator's log or its metrics. A suspended
Club rotates nothing, not even on request, until it is resumed.

The session's operator waits only `jwt_token_lifetime_sec` (the conftest's, a few seconds) for
tokens of the old key to expire; the Club's overlap is 20s, so the overlap decides."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from kubernetes import client as k8s

from club_operator import naming
from club_operator.models import ClubSpec
from club_runtime.core import security
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds, rotation

NAME = "rotating-fc"
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "displayName": "Rotating FC",
    "api": {"replicas": 2, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
    "secrets": {"rotation": {"overlap": "20s"}},
}


def _record(
    custom: k8s.CustomObjectsApi, namespace: str, credential: str = "jwtSigningKey"
) -> dict[str, Any]:
    return rotation.record(custom, namespace, NAME, credential)


def _key_set(core: k8s.CoreV1Api, namespace: str, seen: set[str]) -> dict[str, Any]:
    """The Secret's key set; every kid ever read is added to `seen`."""
    keys: dict[str, Any] = json.loads(clubs.secret_data(core, namespace, f"{NAME}-jwt")["keys"])
    seen.update(keys["keys"])
    return keys


def _token(keys: dict[str, Any], club_id: str) -> str:
    claims = security.Claims(user_id=uuid.uuid4(), club_id=club_id, role="owner", kind="access", version=1)
    key_set = security.KeySet.parse(json.dumps(keys))
    return security.issue_token(key_set, claims=claims, ttl=timedelta(hours=1))


def _verifies(keys: dict[str, Any], token: str, club_id: str) -> bool:
    try:
        security.decode_token(security.KeySet.parse(json.dumps(keys)), token, club_id=club_id, kind="access")
    except security.TokenError:
        return False
    return True


def _worker_hashes(apps: k8s.AppsV1Api, namespace: str) -> list[str]:
    """The workers' pod template hashes: a new JWT key set must not roll the workers (the request
    also rotates the Redis password, which does: test_redis_rotation.py)."""
    names = naming.build_names(namespace, NAME, ClubSpec.model_validate(SPEC), "clubs")
    found = []
    for pool in ("default", "video"):
        template = apps.read_namespaced_deployment(names.worker(pool), namespace).spec.template
        found.append(template.metadata.annotations["footballclub.io/config-hash"])
    return found


def _api_pods_run_the_current_template(apps: k8s.AppsV1Api, core: k8s.CoreV1Api, namespace: str) -> bool:
    """Every API pod (none terminating) carries the Deployment's config hash and is Ready."""
    api = naming.build_names(namespace, NAME, ClubSpec.model_validate(SPEC), "clubs").api
    return rotation.rolled_out(apps, core, namespace, api)


def test_a_requested_rotation_issues_propagates_and_revokes_once(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
) -> None:
    apps = k8s.AppsV1Api(kube_api)
    clubs.create_club(custom, namespace, crds.manifest("Club", SPEC, NAME))
    club = clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=180)
    club_id = club["status"]["tenantId"]
    first = clubs.wait_for(
        "the first key to be Propagated",
        lambda: (r := _record(custom, namespace)).get("phase") == "Propagated" and r,
        timeout=60,
    )
    # The request below rotates the Redis password too: its first one settled as well, so that
    # both take the request up in the same reconcile.
    clubs.wait_for(
        "the first Redis password to be Propagated",
        lambda: _record(custom, namespace, "redisPassword").get("phase") == "Propagated",
        timeout=60,
    )
    seen: set[str] = set()
    keys = _key_set(core, namespace, seen)
    old_kid = keys["active"]
    assert first["kid"] == old_kid
    assert "previousKid" not in first
    secrets_ever = set(keys["keys"].values())
    old_token = _token(keys, club_id)

    # Ask for a rotation; the new key comes in verifying only.
    rotation.request(custom, namespace, NAME, "drill-1")
    issued = clubs.wait_for(
        "the new key to be Issued",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Issued"
            and r.get("previousKid") == old_kid
            and r
        ),
        timeout=60,
    )
    new_kid = issued["kid"]
    assert new_kid != old_kid
    keys = _key_set(core, namespace, seen)
    assert set(keys["keys"]) == {old_kid, new_kid}  # the old key signs until every pod has the new one
    assert issued["reason"] == "requested"
    assert (clubs.get_club(custom, namespace, NAME) or {})["status"]["lastRotateRequest"] == "drill-1"

    # The operator stops in the middle and a new one takes over from the status record.
    club_operator.kill()
    club_operator.start()

    propagated = clubs.wait_for(
        "the new key to be Propagated",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Propagated" and r.get("kid") == new_kid and r
        ),
        timeout=120,
    )
    assert _api_pods_run_the_current_template(apps, core, namespace)
    keys = _key_set(core, namespace, seen)
    assert keys["active"] == new_kid
    assert set(keys["keys"]) == {old_kid, new_kid}  # the old key still verifies
    secrets_ever |= set(keys["keys"].values())
    assert _verifies(keys, old_token, club_id)
    new_token = _token(keys, club_id)
    status = (clubs.get_club(custom, namespace, NAME) or {})["status"]
    assert status["jwtKeyId"] == new_kid
    # From here the key set changes once more (the old key removed); the Redis password does not.
    workers = _worker_hashes(apps, namespace)
    assert (clubs.condition(clubs.get_club(custom, namespace, NAME), "SecretsRotated") or {}).get(
        "reason"
    ) in (
        "Propagated",
        "Revoked",
    )

    revoked = clubs.wait_for(
        "the old key to be Revoked",
        lambda: (r := _record(custom, namespace)).get("phase") == "Revoked" and r,
        timeout=120,
    )
    assert (revoked["kid"], revoked["previousKid"]) == (new_kid, old_kid)
    # Never revoked before propagated, and not before the overlap (20s) had passed.
    revoked_at = rotation.status_time(revoked["revokedTime"])
    assert revoked_at >= rotation.status_time(propagated["propagatedTime"]) + timedelta(seconds=20)
    assert _api_pods_run_the_current_template(apps, core, namespace)
    keys = _key_set(core, namespace, seen)
    assert set(keys["keys"]) == {new_kid}
    assert not _verifies(keys, old_token, club_id)
    assert _verifies(keys, new_token, club_id)
    assert _worker_hashes(apps, namespace) == workers
    clubs.wait_for(
        "SecretsRotated to say Revoked (the Redis password's rotation too)",
        lambda: (
            (
                (c := clubs.condition(clubs.get_club(custom, namespace, NAME), "SecretsRotated") or {}).get(
                    "status"
                ),
                c.get("reason"),
            )
            == ("True", "Revoked")
        ),
        timeout=60,
    )

    # The same value again rotates nothing, and a settled rotation writes nothing more (not the
    # Club, not the Secret); the restart issued no second key.
    _assert_settled(club_operator, custom, core, namespace)
    assert _record(custom, namespace)["kid"] == new_kid
    assert seen == {old_kid, new_kid}

    _check_reports(club_operator, custom, core, namespace, (old_kid, new_kid), secrets_ever)


def _marks(custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str) -> tuple[str, str]:
    club = clubs.get_club(custom, namespace, NAME) or {}
    secret = core.read_namespaced_secret(f"{NAME}-jwt", namespace)
    return club["metadata"]["resourceVersion"], secret.metadata.resource_version


def _assert_settled(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    """Three whole reconciles write neither the Club nor its key set."""
    port = club_operator.metrics_port
    clubs.wait_reconciles(port, namespace, NAME, 1, timeout=club_operator.resync_sec * 10)
    marks = _marks(custom, core, namespace)
    clubs.wait_reconciles(port, namespace, NAME, 3, timeout=club_operator.resync_sec * 15)
    assert _marks(custom, core, namespace) == marks


def _check_reports(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    kids: tuple[str, str],
    secrets_ever: set[str],
) -> None:
    """A step's Event each (one key issued in all); no key anywhere but the Secret; the metric."""
    old_kid, new_kid = kids
    seen = rotation.reports(custom, core, namespace, NAME, club_operator.log, club_operator.metrics_port)
    assert seen.issued_ids("issued JWT signing key") == {new_kid}
    assert any(f"JWT signing key {old_kid} revoked" in m for m in seen.messages)
    seen.leak_none_of(secrets_ever)
    assert seen.last_rotation(namespace, NAME, "jwtSigningKey")


def test_a_suspended_club_rotates_nothing_until_resumed(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    clubs.create_club(custom, namespace, crds.manifest("Club", SPEC, NAME))
    clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=180)
    first = clubs.wait_for(
        "the first key to be Propagated",
        lambda: (r := _record(custom, namespace)).get("phase") == "Propagated" and r,
        timeout=60,
    )
    patch = {
        "metadata": {"annotations": {"footballclub.io/rotate": "while-suspended"}},
        "spec": {"suspend": True},
    }
    custom.patch_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs", NAME, patch)
    clubs.wait_reconciles(
        club_operator.metrics_port, namespace, NAME, 3, timeout=club_operator.resync_sec * 15
    )
    club = clubs.get_club(custom, namespace, NAME) or {}
    assert _record(custom, namespace) == first
    assert "lastRotateRequest" not in club["status"]

    resume = {"spec": {"suspend": False}}
    custom.patch_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs", NAME, resume)
    issued = clubs.wait_for(
        "the request to be taken up once resumed",
        lambda: (r := _record(custom, namespace)).get("previousKid") == first["kid"] and r,
        timeout=60,
    )
    assert issued["reason"] == "requested"
    assert (clubs.get_club(custom, namespace, NAME) or {})["status"]["lastRotateRequest"] == "while-suspended"
