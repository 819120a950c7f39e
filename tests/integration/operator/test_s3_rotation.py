"""S3 access key rotation through the operator (s3_rotation.py): the footballclub.io/rotate annotation
takes a Club's S3 key through Issued (a new key on the Club's other S3 user and in the Secret, both
keys working), Propagated (every API and worker pod on the template carrying it and Ready: kwok's
pods, the rollout observed as on a real node) and Revoked (the previous user deleted, not before the
overlap), with the operator killed and restarted half-way: one new key in all. The stack's real
MinIO refuses the old key once revoked; the new one reaches the Club's bucket and nothing else.
Another Club beside it keeps its key, its users and its Secret untouched. No secret key appears in
Events, status, the operator's log or its metrics. Deleting the Club deletes the user its key is on
now, and the policy with it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException

from club_devstack.stack import StackInfo
from club_operator import naming, s3_keys
from club_operator.models import ClubSpec
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds, rotation

NAME = "s3-rotating-fc"
OTHER = "s3-bystander-fc"
CREDENTIAL = "s3AccessKey"
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "displayName": "S3 Rotating FC",
    "api": {"replicas": 2, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
    "secrets": {"rotation": {"overlap": "20s"}},
    "deletionPolicy": "Delete",
}
OTHER_SPEC = {
    "displayName": "S3 Bystander FC",
    "api": {"replicas": 1, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}


@pytest.fixture
def admin(stack: StackInfo) -> MinioAdmin:
    return MinioAdmin(
        endpoint=stack.minio.endpoint.split("://")[1],
        credentials=StaticProvider(stack.minio.access_key, stack.minio.secret_key),
        secure=False,
    )


def _names(namespace: str, name: str, spec: dict[str, Any]) -> naming.ClubNames:
    return naming.build_names(namespace, name, ClubSpec.model_validate(spec), "clubs")


def _secret(core: k8s.CoreV1Api, namespace: str, club: str, seen: set[str]) -> dict[str, str]:
    """The Club's storage Secret; every secret key ever read is added to `seen`."""
    data = clubs.secret_data(core, namespace, f"{club}-storage")
    seen.add(data["secretAccessKey"])
    return data


def _answer(stack: StackInfo, secret: dict[str, str], call: Callable[[Any], object]) -> str:
    """'ok', or the error code MinIO answers the key in `secret` with."""
    s3 = stack.minio.client(secret["accessKeyId"], secret["secretAccessKey"])
    try:
        call(s3)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def _lists(stack: StackInfo, secret: dict[str, str]) -> str:
    return _answer(stack, secret, lambda s3: s3.list_objects_v2(Bucket=secret["bucket"], MaxKeys=1))


def _user(admin: MinioAdmin, user: str) -> dict[str, Any] | None:
    """The user as MinIO's admin API reports it, or None when there is none."""
    try:
        return dict(json.loads(admin.user_info(user)))
    except MinioAdminException as exc:
        if int(getattr(exc, "_code", 0) or 0) == 404:
            return None
        raise


def _pods_run_the_current_templates(apps: k8s.AppsV1Api, core: k8s.CoreV1Api, namespace: str) -> bool:
    names = _names(namespace, NAME, SPEC)
    return all(
        rotation.rolled_out(apps, core, namespace, name)
        for name in (names.api, names.worker("default"), names.worker("video"))
    )


def test_a_requested_rotation_replaces_the_s3_key_once_and_minio_refuses_the_old_one(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
    stack: StackInfo,
    admin: MinioAdmin,
) -> None:
    apps = k8s.AppsV1Api(kube_api)
    names = _names(namespace, NAME, SPEC)
    user, alternate = s3_keys.club_users(names.s3_user)
    clubs.create_club(custom, namespace, crds.manifest("Club", SPEC, NAME))
    clubs.create_club(custom, namespace, crds.manifest("Club", OTHER_SPEC, OTHER))
    for club in (NAME, OTHER):
        clubs.wait_condition(custom, namespace, club, "Ready", "True", timeout=180)
    first = clubs.wait_for(
        "the first key to be Propagated",
        lambda: (
            (r := rotation.record(custom, namespace, NAME, CREDENTIAL)).get("phase") == "Propagated" and r
        ),
        timeout=60,
    )
    seen: set[str] = set()
    old = _secret(core, namespace, NAME, seen)
    old_id = s3_keys.key_id(old["accessKeyId"], old["secretAccessKey"])
    assert (old["accessKeyId"], first["kid"], first.get("previousKid")) == (user, old_id, None)
    assert (_user(admin, alternate), _lists(stack, old)) == (None, "ok")
    clubs.wait_for(
        "the other Club's key to be Propagated",
        lambda: rotation.record(custom, namespace, OTHER, CREDENTIAL).get("phase") == "Propagated",
        timeout=60,
    )
    bystander = _bystander(stack, custom, core, admin, namespace)
    assert bystander[-1] == "ok"

    rotation.request(custom, namespace, NAME, "drill-s3")
    issued = clubs.wait_for(
        "the new key to be Issued",
        lambda: (
            (r := rotation.record(custom, namespace, NAME, CREDENTIAL)).get("phase") == "Issued"
            and r.get("previousKid") == old_id
            and r
        ),
        timeout=60,
    )
    new = _secret(core, namespace, NAME, seen)
    new_id = issued["kid"]
    assert new["accessKeyId"] == alternate
    assert new_id == s3_keys.key_id(alternate, new["secretAccessKey"]) != old_id
    assert (issued["reason"], issued["request"]) == ("requested", "drill-s3")
    # Both keys work while the pods roll over; the new user holds the Club's policy and nothing else.
    clubs.wait_for("the new key to be on the server", lambda: _lists(stack, new) == "ok", timeout=30)
    assert _lists(stack, old) == "ok"
    assert (_user(admin, alternate) or {}).get("policyName") == names.s3_policy

    # The operator stops in the middle and a new one takes over from the status record.
    club_operator.kill()
    club_operator.start()

    propagated = clubs.wait_for(
        "the new key to be Propagated",
        lambda: (
            (r := rotation.record(custom, namespace, NAME, CREDENTIAL)).get("phase") == "Propagated"
            and r.get("kid") == new_id
            and r
        ),
        timeout=120,
    )
    assert _pods_run_the_current_templates(apps, core, namespace)
    assert _secret(core, namespace, NAME, seen)["secretAccessKey"] == new["secretAccessKey"]
    assert _lists(stack, old) == "ok"  # the overlap: not revoked yet

    revoked = clubs.wait_for(
        "the old key to be Revoked",
        lambda: (r := rotation.record(custom, namespace, NAME, CREDENTIAL)).get("phase") == "Revoked" and r,
        timeout=120,
    )
    assert (revoked["kid"], revoked["previousKid"]) == (new_id, old_id)
    # Never revoked before propagated, and not before the overlap (20s) had passed.
    revoked_at = rotation.status_time(revoked["revokedTime"])
    assert revoked_at >= rotation.status_time(propagated["propagatedTime"]) + timedelta(seconds=20)
    assert (_user(admin, user), _lists(stack, old)) == (None, "InvalidAccessKeyId")
    _check_reaches_its_bucket_only(stack, new, _names(namespace, OTHER, OTHER_SPEC).bucket)

    # Every credential the request rotated settles; then nothing more is written (not the Club, not
    # the Secret, not a user); the restart issued no second key.
    clubs.wait_for(
        "SecretsRotated to say Revoked",
        lambda: (
            (clubs.condition(clubs.get_club(custom, namespace, NAME), "SecretsRotated") or {}).get("reason")
            == "Revoked"
        ),
        timeout=120,
    )
    _check_writes_nothing_more(club_operator, custom, core, admin, namespace, (user, alternate))
    assert rotation.record(custom, namespace, NAME, CREDENTIAL)["kid"] == new_id
    assert seen == {old["secretAccessKey"], new["secretAccessKey"]}

    # The other Club: same key, same Secret, same record, no second user.
    assert _bystander(stack, custom, core, admin, namespace) == bystander

    _check_reports(club_operator, custom, core, namespace, (old_id, new_id), (old, new))

    # Deletion (deletionPolicy Delete) removes the user the key is on now, and the policy with it.
    clubs.delete_club(custom, namespace, NAME)
    clubs.wait_gone(custom, namespace, NAME, timeout=90)
    assert [_user(admin, u) for u in (user, alternate)] == [None, None]
    assert _lists(stack, new) == "InvalidAccessKeyId"
    assert _bystander(stack, custom, core, admin, namespace) == bystander


def _bystander(
    stack: StackInfo, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, admin: MinioAdmin, namespace: str
) -> tuple[object, ...]:
    """What the other Club has: its storage Secret (data and version), its key's record, its two
    users, and how MinIO answers its key."""
    names = _names(namespace, OTHER, OTHER_SPEC)
    secret = clubs.secret_data(core, namespace, names.storage_secret)
    version = _version(core, namespace, names.storage_secret)
    record = rotation.record(custom, namespace, OTHER, CREDENTIAL)
    users = [_user(admin, u) is not None for u in s3_keys.club_users(names.s3_user)]
    return secret, version, record.get("kid"), record.get("phase"), users, _lists(stack, secret)


def _check_reaches_its_bucket_only(stack: StackInfo, new: dict[str, str], other_bucket: str) -> None:
    """The new key writes and reads the Club's bucket, and may not list another Club's."""
    key = "rotation/check.txt"
    put = _answer(stack, new, lambda s3: s3.put_object(Bucket=new["bucket"], Key=key, Body=b"held"))
    assert put == "ok"
    s3 = stack.minio.client(new["accessKeyId"], new["secretAccessKey"])
    assert s3.get_object(Bucket=new["bucket"], Key=key)["Body"].read() == b"held"
    assert _lists(stack, {**new, "bucket": other_bucket}) == "AccessDenied"


def _check_writes_nothing_more(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    admin: MinioAdmin,
    namespace: str,
    users: tuple[str, str],
) -> None:
    """Three whole reconciles change neither the Club, nor its storage Secret, nor its users."""
    port = club_operator.metrics_port
    clubs.wait_reconciles(port, namespace, NAME, 1, timeout=club_operator.resync_sec * 10)
    marks = _marks(custom, core, admin, namespace, users)
    clubs.wait_reconciles(port, namespace, NAME, 3, timeout=club_operator.resync_sec * 15)
    assert _marks(custom, core, admin, namespace, users) == marks


def _marks(
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    admin: MinioAdmin,
    namespace: str,
    users: tuple[str, str],
) -> tuple[object, ...]:
    club = clubs.get_club(custom, namespace, NAME) or {}
    version = _version(core, namespace, f"{NAME}-storage")
    return club["metadata"]["resourceVersion"], version, [_user(admin, u) for u in users]


def _version(core: k8s.CoreV1Api, namespace: str, secret: str) -> str | None:
    meta = core.read_namespaced_secret(secret, namespace).metadata
    return None if meta is None else meta.resource_version


def _check_reports(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    ids: tuple[str, str],
    secrets: tuple[dict[str, str], dict[str, str]],
) -> None:
    """A step's Event each (one key issued in all); no secret key anywhere but the Secret and the
    server; the metric."""
    old_id, new_id = ids
    seen = rotation.reports(custom, core, namespace, NAME, club_operator.log, club_operator.metrics_port)
    assert seen.issued_ids("issued S3 access key") == {new_id}
    assert any(f"S3 access key {old_id} revoked" in m for m in seen.messages)
    seen.leak_none_of(s["secretAccessKey"] for s in secrets)
    assert seen.last_rotation(namespace, NAME, CREDENTIAL)


CRASHED = "s3-crashed-fc"


def test_a_key_written_to_the_secret_before_a_crash_is_taken_up_not_replaced(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    admin: MinioAdmin,
) -> None:
    """The operator stopped between writing the new key to the Secret and giving it to the other
    user (the Secret is written first): the next operator's storage step makes the user with the
    Secret's key, and the rotation takes that key up (adopted) and takes it to Revoked, issuing none."""
    spec = {**OTHER_SPEC, "displayName": "S3 Crashed FC", "secrets": {"rotation": {"overlap": "20s"}}}
    names = _names(namespace, CRASHED, spec)
    user, alternate = s3_keys.club_users(names.s3_user)
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, CRASHED))
    clubs.wait_condition(custom, namespace, CRASHED, "Ready", "True", timeout=180)
    clubs.wait_for(
        "the first key to be Propagated",
        lambda: rotation.record(custom, namespace, CRASHED, CREDENTIAL).get("phase") == "Propagated",
        timeout=60,
    )
    old = clubs.secret_data(core, namespace, names.storage_secret)
    old_id = s3_keys.key_id(user, old["secretAccessKey"])

    club_operator.kill()
    new_secret = uuid.uuid4().hex
    written = {"accessKeyId": alternate, "secretAccessKey": new_secret}
    core.patch_namespaced_secret(
        names.storage_secret,
        namespace,
        {"data": {k: base64.b64encode(v.encode()).decode() for k, v in written.items()}},
    )
    assert _user(admin, alternate) is None
    club_operator.start()

    new_id = s3_keys.key_id(alternate, new_secret)
    adopted = clubs.wait_for(
        "the key in the Secret to be taken up",
        lambda: (r := rotation.record(custom, namespace, CRASHED, CREDENTIAL)).get("kid") == new_id and r,
        timeout=60,
    )
    assert (adopted["reason"], adopted["previousKid"]) == ("adopted", old_id)
    new = {**old, **written}
    clubs.wait_for("the Secret's key to be on the server", lambda: _lists(stack, new) == "ok", timeout=30)
    revoked = clubs.wait_for(
        "the old key to be Revoked",
        lambda: (
            (r := rotation.record(custom, namespace, CRASHED, CREDENTIAL)).get("phase") == "Revoked" and r
        ),
        timeout=150,
    )
    assert (revoked["kid"], revoked["previousKid"]) == (new_id, old_id)
    assert (_lists(stack, old), _lists(stack, new)) == ("InvalidAccessKeyId", "ok")
    assert clubs.secret_data(core, namespace, names.storage_secret)["secretAccessKey"] == new_secret
    messages = [e.message or "" for e in clubs.events(core, namespace, CRASHED)]
    assert any(f"took up S3 access key {new_id}" in m for m in messages)
    assert not any("issued S3 access key" in m for m in messages)
