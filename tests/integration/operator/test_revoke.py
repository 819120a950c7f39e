"""The breach response through the operator (revoke.py): `footballclub.io/revoke=<reason>` replaces
every credential of a Club at once, with no overlap. Each old one is refused by the real server
that holds it as soon as it is replaced (the Redis user refuses the old password and its open
connections are closed; the JWT key set holds a single new key, so the runtime's own token check
refuses every token signed before), the pods roll onto the new Secrets (kwok's pods, the rollout
observed as on a real node), and status.revocation reports the seconds from the request until
every pod ran the new ones. Another Club's credentials are untouched. No credential appears in
Events, status, the operator's log or its metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
import redis
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import naming
from club_operator.models import ClubSpec
from club_runtime.core import security
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds, refusals, rotation

NAME = "breached-fc"
BYSTANDER = "bystander-fc"
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "displayName": "Breached FC",
    "api": {"replicas": 2, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}


KINDS = ("jwt", "redis", "owner", "database", "storage")


def _credentials(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, dict[str, str]]:
    return {kind: clubs.secret_data(core, namespace, f"{name}-{kind}") for kind in KINDS}


def _token(keys: str, club_id: str) -> str:
    claims = security.Claims(user_id=uuid.uuid4(), club_id=club_id, role="admin", kind="access", version=1)
    return security.issue_token(security.KeySet.parse(keys), claims=claims, ttl=timedelta(hours=1))


def _accepted(keys: str, token: str, club_id: str) -> bool:
    try:
        security.decode_token(security.KeySet.parse(keys), token, club_id=club_id, kind="access")
    except security.TokenError:
        return False
    return True


def _revocation(custom: k8s.CustomObjectsApi, namespace: str) -> dict[str, object]:
    body = clubs.get_club(custom, namespace, NAME) or {}
    return dict((body.get("status") or {}).get("revocation") or {})


def test_revoke_replaces_every_credential_at_once_and_measures_until_nothing_accepts_an_old_one(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
    stack: StackInfo,
) -> None:
    apps = k8s.AppsV1Api(kube_api)
    for name in (NAME, BYSTANDER):
        clubs.create_club(custom, namespace, crds.manifest("Club", SPEC | {"displayName": name}, name))
    for name in (NAME, BYSTANDER):
        clubs.wait_condition(custom, namespace, name, "Ready", "True", timeout=180)
    club_id = (clubs.get_club(custom, namespace, NAME) or {})["status"]["tenantId"]
    old = _credentials(core, namespace, NAME)
    bystander = _credentials(core, namespace, BYSTANDER)
    token = _token(old["jwt"]["keys"], club_id)
    assert _accepted(old["jwt"]["keys"], token, club_id)
    held = redis.Redis.from_url(old["redis"]["url"], socket_timeout=5)  # an authenticated connection
    assert held.ping()
    bucket = (clubs.get_club(custom, namespace, NAME) or {})["status"]["bucket"]
    session = psycopg.connect(old["database"]["dsn"], autocommit=True)  # a session of the club's
    assert session.execute("SELECT 1").fetchone() == (1,)

    patch = {"metadata": {"annotations": {"footballclub.io/revoke": "leaked-laptop"}}}
    custom.patch_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs", NAME, patch)
    replaced = clubs.wait_for(
        "the credentials to be replaced",
        lambda: (r := _revocation(custom, namespace)).get("request") == "leaked-laptop" and r,
        timeout=60,
    )
    assert replaced["credentials"] == [
        "jwtSigningKey",
        "redisPassword",
        "databasePassword",
        "s3AccessKey",
        "ownerPassword",
    ]
    new = _credentials(core, namespace, NAME)
    # Refused by their servers from the moment they are replaced, before any pod has rolled.
    _old_ones_refused(old, new, held, session, bucket)
    assert not _accepted(new["jwt"]["keys"], token, club_id)
    assert _accepted(new["jwt"]["keys"], _token(new["jwt"]["keys"], club_id), club_id)
    assert len(security.KeySet.parse(new["jwt"]["keys"]).keys) == 1

    done = clubs.wait_for(
        "every pod to run the new credentials",
        lambda: (r := _revocation(custom, namespace)).get("phase") == "Revoked" and r,
        timeout=180,
    )
    names = naming.build_names(namespace, NAME, ClubSpec.model_validate(SPEC), "clubs")
    assert all(
        rotation.rolled_out(apps, core, namespace, d)
        for d in (names.api, names.worker("default"), names.worker("video"))
    )
    requested = rotation.status_time(str(done["requestedTime"]))
    revoked = rotation.status_time(str(done["revokedTime"]))
    assert revoked >= rotation.status_time(str(done["replacedTime"])) >= requested
    # The times in status are whole seconds; `seconds` is measured, then rounded.
    assert abs(int(str(done["seconds"])) - (revoked - requested).total_seconds()) <= 1
    metrics = clubs.metrics_text(club_operator.metrics_port)
    measured = clubs.metric_value(metrics, "club_secret_revocation_seconds", namespace=namespace, club=NAME)
    assert measured is not None
    assert round(measured) == done["seconds"]
    messages = [e.message or "" for e in clubs.events(core, namespace, NAME)]
    assert any("revoked credentials (leaked-laptop)" in m for m in messages)
    assert any(f"every old credential refused {done['seconds']} s after" in m for m in messages)
    # The rotation records start over from the new credentials.
    assert rotation.record(custom, namespace, NAME, "jwtSigningKey")["kid"] == (
        security.KeySet.parse(new["jwt"]["keys"]).active
    )

    # The other Club noticed nothing.
    assert _credentials(core, namespace, BYSTANDER) == bystander
    assert not refusals.redis_refuses(bystander["redis"]["url"])
    assert not refusals.database_refuses(bystander["database"]["dsn"])
    assert not refusals.storage_refuses(
        bystander["storage"], (clubs.get_club(custom, namespace, BYSTANDER) or {})["status"]["bucket"]
    )

    # Each request once: a settled revocation replaces nothing more.
    clubs.wait_reconciles(
        club_operator.metrics_port, namespace, NAME, 2, timeout=club_operator.resync_sec * 10
    )
    assert _credentials(core, namespace, NAME) == new

    _nothing_leaks(
        rotation.reports(custom, core, namespace, NAME, club_operator.log, club_operator.metrics_port),
        (old, new),
    )


def _old_ones_refused(
    old: dict[str, dict[str, str]],
    new: dict[str, dict[str, str]],
    held: redis.Redis,
    session: psycopg.Connection[tuple[object, ...]],
    bucket: str,
) -> None:
    """Redis, PostgreSQL and MinIO refuse the old credentials and close what they had opened with
    them; they accept the new ones. The owner's Secret holds a new password and no previous one."""
    assert refusals.redis_refuses(old["redis"]["url"])
    with pytest.raises(redis.exceptions.ConnectionError):
        held.ping()  # closed by the server; the reconnect is refused too
    held.close()
    assert not refusals.redis_refuses(new["redis"]["url"])
    assert refusals.database_refuses(old["database"]["dsn"])
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")  # ended by the server
    session.close()
    assert not refusals.database_refuses(new["database"]["dsn"])
    assert refusals.storage_refuses(old["storage"], bucket)
    assert not refusals.storage_refuses(new["storage"], bucket)
    assert new["owner"]["password"] != old["owner"]["password"]
    assert not new["owner"].get("previous-password")


def _nothing_leaks(seen: rotation.Reports, every: tuple[dict[str, dict[str, str]], ...]) -> None:
    for values in every:
        seen.leak_none_of(
            (
                values["redis"]["password"],
                values["redis"]["url"],
                values["owner"]["password"],
                values["database"]["password"],
                values["database"]["dsn"],
                values["storage"]["secretAccessKey"],
                *security.KeySet.parse(values["jwt"]["keys"]).keys.values(),
            )
        )
