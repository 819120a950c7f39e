"""Redis password rotation through the operator (redis_rotation.py): the footballclub.io/rotate
annotation takes the password of a Club's Redis user through Issued (the new one in the Secret, the
user accepting both), Propagated (every API and worker pod on the template carrying it and Ready:
kwok's pods, the rollout observed as on a real node) and Revoked (the old one removed from the user,
not before the overlap), with the operator killed and restarted half-way: one new password in all.
The stack's real Redis refuses the old password once revoked; the new one logs in and reaches the
Club's keys only. No password, URL or ACL hash appears in Events, status, the operator's log or
its metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
import redis
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import credentials, naming
from club_operator.models import ClubSpec
from club_operator.redis_target import club_prefix, password_sha256
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds, rotation

NAME = "redis-rotating-fc"
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "displayName": "Redis Rotating FC",
    "api": {"replicas": 2, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
    "secrets": {"rotation": {"overlap": "20s"}},
}


@pytest.fixture
def admin(stack: StackInfo) -> Iterator[redis.Redis]:
    """The operator's own connection (database 0, the default user)."""
    conn = redis.Redis.from_url(stack.redis.url(0))
    yield conn
    conn.close()


def _record(
    custom: k8s.CustomObjectsApi, namespace: str, credential: str = "redisPassword"
) -> dict[str, Any]:
    return rotation.record(custom, namespace, NAME, credential)


def _secret(core: k8s.CoreV1Api, namespace: str, seen: set[str]) -> dict[str, str]:
    """The Club's Redis Secret; every password ever read is added to `seen`."""
    data = clubs.secret_data(core, namespace, f"{NAME}-redis")
    seen.add(data["password"])
    return data


def _logs_in(url: str) -> bool:
    with redis.Redis.from_url(url, socket_timeout=5) as conn:
        try:
            return bool(conn.ping())
        except redis.exceptions.AuthenticationError:
            return False


def _passwords(admin: redis.Redis, user: str) -> list[str]:
    found = cast(Any, admin).execute_command("ACL", "GETUSER", user)
    view = dict(found.items()) if isinstance(found, dict) else dict(zip(found[::2], found[1::2], strict=True))
    raw = view.get(b"passwords", view.get("passwords")) or []
    return sorted(p.decode() if isinstance(p, bytes) else str(p) for p in raw)


def _pods_run_the_current_templates(apps: k8s.AppsV1Api, core: k8s.CoreV1Api, namespace: str) -> bool:
    """Every pod of the API and of both worker pools (none terminating) carries its Deployment's
    config hash and is Ready, as many as the Deployment wants."""
    names = naming.build_names(namespace, NAME, ClubSpec.model_validate(SPEC), "clubs")
    return all(
        rotation.rolled_out(apps, core, namespace, name)
        for name in (names.api, names.worker("default"), names.worker("video"))
    )


def test_a_requested_rotation_replaces_the_redis_password_once_and_redis_refuses_the_old_one(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
    admin: redis.Redis,
) -> None:
    apps = k8s.AppsV1Api(kube_api)
    user = club_prefix(namespace, NAME)
    clubs.create_club(custom, namespace, crds.manifest("Club", SPEC, NAME))
    clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=180)
    first = clubs.wait_for(
        "the first password to be Propagated",
        lambda: (r := _record(custom, namespace)).get("phase") == "Propagated" and r,
        timeout=60,
    )
    seen: set[str] = set()
    old = _secret(core, namespace, seen)
    old_id = credentials.redis_password_id(old["password"])
    assert first["kid"] == old_id
    assert "previousKid" not in first
    assert _passwords(admin, user) == [password_sha256(old["password"])]
    assert _logs_in(old["url"])

    rotation.request(custom, namespace, NAME, "drill-redis")
    issued = clubs.wait_for(
        "the new password to be Issued",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Issued"
            and r.get("previousKid") == old_id
            and r
        ),
        timeout=60,
    )
    new = _secret(core, namespace, seen)
    new_id = issued["kid"]
    assert new_id == credentials.redis_password_id(new["password"]) != old_id
    assert issued["reason"] == "requested"
    assert issued["request"] == "drill-redis"
    # The user accepts both while the pods roll over.
    assert _passwords(admin, user) == sorted(password_sha256(p) for p in (old["password"], new["password"]))
    assert _logs_in(old["url"])
    assert _logs_in(new["url"])

    # The operator stops in the middle and a new one takes over from the status record.
    club_operator.kill()
    club_operator.start()

    propagated = clubs.wait_for(
        "the new password to be Propagated",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Propagated" and r.get("kid") == new_id and r
        ),
        timeout=120,
    )
    assert _pods_run_the_current_templates(apps, core, namespace)
    assert _secret(core, namespace, seen)["password"] == new["password"]
    assert _logs_in(old["url"])  # the overlap: not revoked yet

    revoked = clubs.wait_for(
        "the old password to be Revoked",
        lambda: (r := _record(custom, namespace)).get("phase") == "Revoked" and r,
        timeout=120,
    )
    assert (revoked["kid"], revoked["previousKid"]) == (new_id, old_id)
    # Never revoked before propagated, and not before the overlap (20s) had passed.
    revoked_at = rotation.status_time(revoked["revokedTime"])
    assert revoked_at >= rotation.status_time(propagated["propagatedTime"]) + timedelta(seconds=20)
    assert _passwords(admin, user) == [password_sha256(new["password"])]
    assert not _logs_in(old["url"])
    with (
        redis.Redis.from_url(old["url"]) as stale,
        pytest.raises(redis.exceptions.AuthenticationError),
    ):
        stale.ping()
    # The new password reaches the Club's keys, and nothing outside its prefix.
    with redis.Redis.from_url(new["url"]) as conn:
        assert conn.set(f"{user}:lease:rotation", "held")
        assert conn.get(f"{user}:lease:rotation") == b"held"
        for attempt in (
            lambda: conn.set("club:elsewhere:lease:rotation", "forged"),
            lambda: conn.get(f"rq:queue:{namespace}.{NAME}.default"),
            lambda: conn.hget("club-operator:owners", user),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                attempt()
    clubs.wait_for(
        "SecretsRotated to say Revoked",
        lambda: (
            (clubs.condition(clubs.get_club(custom, namespace, NAME), "SecretsRotated") or {}).get("reason")
            == "Revoked"
        ),
        timeout=180,  # the least advanced of every credential the request rotated, the JWT key's last
    )

    # A settled rotation writes nothing more (not the Club, not the Secret, not the user); the
    # restart issued no second password.
    port = club_operator.metrics_port
    clubs.wait_reconciles(port, namespace, NAME, 1, timeout=club_operator.resync_sec * 10)
    marks = _marks(custom, core, namespace, admin, user)
    clubs.wait_reconciles(port, namespace, NAME, 3, timeout=club_operator.resync_sec * 15)
    assert _marks(custom, core, namespace, admin, user) == marks
    assert _record(custom, namespace)["kid"] == new_id
    assert seen == {old["password"], new["password"]}

    _check_reports(club_operator, custom, core, namespace, (old_id, new_id), (old, new))


def _marks(
    custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, admin: redis.Redis, user: str
) -> tuple[str, str, list[str]]:
    club = clubs.get_club(custom, namespace, NAME) or {}
    secret = core.read_namespaced_secret(f"{NAME}-redis", namespace)
    return club["metadata"]["resourceVersion"], secret.metadata.resource_version, _passwords(admin, user)


def _check_reports(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    ids: tuple[str, str],
    secrets: tuple[dict[str, str], dict[str, str]],
) -> None:
    """A step's Event each (one password issued in all); no password, URL or hash anywhere but the
    Secret and Redis; the metric."""
    old_id, new_id = ids
    seen = rotation.reports(custom, core, namespace, NAME, club_operator.log, club_operator.metrics_port)
    assert seen.issued_ids("issued Redis password") == {new_id}
    assert any(f"Redis password {old_id} revoked" in m for m in seen.messages)
    seen.leak_none_of(v for s in secrets for v in (s["password"], s["url"], password_sha256(s["password"])))
    assert seen.last_rotation(namespace, NAME, "redisPassword")
