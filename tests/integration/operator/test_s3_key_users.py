"""The Club's second S3 user, which its access key alternates with (s3_keys.py), against the stack's
real MinIO: storage.add_key_user gives it a key that reaches the Club's bucket only,
remove_key_user makes MinIO refuse that key, a user of that name holding another policy is never
touched, and delete_storage removes the second user with the Club's own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException

from club_devstack.stack import StackInfo
from club_operator import ownership, s3_keys, storage, storage_policy
from club_operator.storage import S3Server, StoragePlan


@pytest.fixture
def server(stack: StackInfo) -> S3Server:
    return S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)


@pytest.fixture
def admin(stack: StackInfo) -> MinioAdmin:
    return MinioAdmin(
        endpoint=stack.minio.endpoint.split("://")[1],
        credentials=StaticProvider(stack.minio.access_key, stack.minio.secret_key),
        secure=False,
    )


@pytest.fixture
def plan(server: S3Server) -> Iterator[StoragePlan]:
    """A club's storage, made; deleted afterwards."""
    name = f"club-k-{uuid.uuid4().hex[:10]}"
    made = StoragePlan(name, name, uuid.uuid4().hex, f"{name}-bucket", None, "tmp/", 3)
    storage.ensure_storage(server, made)
    yield made
    storage.delete_storage(server, made)


def _user(admin: MinioAdmin, user: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(admin.user_info(user)))
    except MinioAdminException as exc:
        if int(getattr(exc, "_code", 0) or 0) == 404:
            return None
        raise


def _lists(stack: StackInfo, user: str, secret: str, bucket: str) -> str:
    """'ok', or the error code MinIO answers the key with."""
    try:
        stack.minio.client(user, secret).list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_the_second_user_gets_a_key_to_the_clubs_bucket_and_loses_it_when_removed(
    stack: StackInfo, server: S3Server, admin: MinioAdmin, plan: StoragePlan
) -> None:
    other = s3_keys.alternate_user(plan.user)
    assert not storage.key_user_exists(server, other, plan.policy_name)
    secret = uuid.uuid4().hex
    storage.add_key_user(server, other, secret, plan.policy_name)
    assert storage.key_user_exists(server, other, plan.policy_name)
    assert (_user(admin, other) or {}).get("policyName") == plan.policy_name
    assert _lists(stack, other, secret, plan.bucket) == "ok"
    assert _lists(stack, plan.user, plan.secret_key, plan.bucket) == "ok"  # both at once
    # Given again (the next rotation but one): a new key, the old one refused.
    again = uuid.uuid4().hex
    storage.add_key_user(server, other, again, plan.policy_name)
    assert _lists(stack, other, again, plan.bucket) == "ok"
    assert _lists(stack, other, secret, plan.bucket) == "SignatureDoesNotMatch"

    assert storage.remove_key_user(server, other, plan.policy_name)
    assert _lists(stack, other, again, plan.bucket) == "InvalidAccessKeyId"
    assert not storage.remove_key_user(server, other, plan.policy_name)  # gone already
    assert _lists(stack, plan.user, plan.secret_key, plan.bucket) == "ok"


def test_a_user_of_that_name_holding_another_policy_is_never_touched(
    stack: StackInfo, server: S3Server, admin: MinioAdmin, plan: StoragePlan
) -> None:
    other = s3_keys.alternate_user(plan.user)
    foreign_policy = f"{other}-someone-elses"
    admin.policy_add(foreign_policy, policy=storage_policy.build_user_policy(plan.bucket))
    secret = uuid.uuid4().hex
    admin.user_add(other, secret)
    admin.policy_set(foreign_policy, user=other)
    try:
        for attempt in (
            lambda: storage.key_user_exists(server, other, plan.policy_name),
            lambda: storage.add_key_user(server, other, uuid.uuid4().hex, plan.policy_name),
            lambda: storage.remove_key_user(server, other, plan.policy_name),
        ):
            with pytest.raises(ownership.Conflict, match="not the Club's"):
                attempt()
        assert _lists(stack, other, secret, plan.bucket) == "ok"  # its key as it was
        kept = storage.delete_storage(server, plan)
        assert kept == [f"user {other}"]
        assert (_user(admin, other) or {}).get("policyName") == foreign_policy
        assert _user(admin, plan.user) is None
    finally:
        admin.user_remove(other)
        admin.policy_remove(foreign_policy)


def test_deleting_the_storage_removes_the_second_user_then_the_policy(
    server: S3Server, admin: MinioAdmin, plan: StoragePlan
) -> None:
    other = s3_keys.alternate_user(plan.user)
    storage.add_key_user(server, other, uuid.uuid4().hex, plan.policy_name)
    assert storage.delete_storage(server, plan) == []
    assert _user(admin, other) is None
    assert _user(admin, plan.user) is None
    with pytest.raises(MinioAdminException):
        admin.policy_info(plan.policy_name)
