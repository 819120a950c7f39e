"""A club's media stay recoverable, through the operator against the stack's real MinIO: its bucket
is versioned with a lifecycle rule removing earlier versions after spec.storage.noncurrentVersionExpireDays
(next to the temporary-uploads rule, the quota and the ownership tags kept); a video deleted or
overwritten with the club's own credentials is read back by version id and copied back by those same
credentials, which can never delete a version nor turn versioning off; versioning suspended and the
rules removed by hand are repaired, and a resync sends the bucket no write."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider

from club_devstack.stack import StackInfo
from club_operator import storage_policy
from club_operator.ownership import Owner
from club_operator.storage import S3Server
from tests.integration.operator.conftest import RunningOperator
from tests.integration.operator.test_storage import server_trace, writes
from tests.support import clubs, crds

DENIED = "AccessDenied"
KEY = "videos/match.mp4"


def _answer(call: Callable[[], object]) -> str:
    """'ok', or the error code the server answered."""
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def _own_s3(core: k8s.CoreV1Api, namespace: str, name: str) -> Any:
    """The club's own S3 client, as its API and workers hold it."""
    data = clubs.secret_data(core, namespace, f"{name}-storage")
    return boto3.client(
        "s3",
        endpoint_url=data["endpoint"],
        aws_access_key_id=data["accessKeyId"],
        aws_secret_access_key=data["secretAccessKey"],
        region_name=data["region"],
    )


def _club(custom: k8s.CustomObjectsApi, namespace: str, name: str, storage: dict[str, Any]) -> str:
    """A Ready Club (its storage deleted with it); returns its bucket."""
    spec = {"displayName": name.title(), "deletionPolicy": "Delete", "storage": storage}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, name))
    return str(clubs.ready_status(custom, namespace, name)["bucket"])


def _rules(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    try:
        found = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError:
        return {}
    return {rule["ID"]: rule for rule in found}


@pytest.fixture
def admin(stack: StackInfo) -> Any:
    return MinioAdmin(
        endpoint=stack.minio.endpoint.split("://")[1],
        credentials=StaticProvider(stack.minio.access_key, stack.minio.secret_key),
        secure=False,
    )


def test_a_deleted_video_is_read_back_and_restored_with_the_clubs_own_credentials(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    s3: Any,
    admin: Any,
) -> None:
    bucket = _club(custom, namespace, "media-fc", {"quota": "64Mi", "noncurrentVersionExpireDays": 5})

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = _rules(s3, bucket)
    assert rules[storage_policy.NONCURRENT_RULE_ID] == {
        "ID": storage_policy.NONCURRENT_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 5},
    }
    assert rules[storage_policy.TEMPORARY_RULE_ID]["Filter"] == {"Prefix": "tmp/"}
    assert json.loads(admin.bucket_quota_get(bucket))["quota"] == 64 * 1024 * 1024
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    owner = Owner.from_tags(tags)
    assert owner is not None
    assert (owner.namespace, owner.name) == (namespace, "media-fc")

    own = _own_s3(core, namespace, "media-fc")
    own.put_object(Bucket=bucket, Key=KEY, Body=b"first half")
    own.put_object(Bucket=bucket, Key=KEY, Body=b"second half")  # an overwrite
    own.delete_object(Bucket=bucket, Key=KEY)  # a delete: only a delete marker on top
    assert _answer(lambda: own.get_object(Bucket=bucket, Key=KEY)) == "NoSuchKey"

    # The club lists and reads what it deleted and overwrote, by version id.
    listed = own.list_object_versions(Bucket=bucket, Prefix=KEY)
    versions = [v for v in listed["Versions"] if v["Key"] == KEY]
    assert [m["IsLatest"] for m in listed["DeleteMarkers"]] == [True]
    bodies = [
        own.get_object(Bucket=bucket, Key=KEY, VersionId=v["VersionId"])["Body"].read() for v in versions
    ]
    assert bodies == [b"second half", b"first half"]  # newest first

    # It cannot destroy them: no version delete, no versioning change, no lifecycle change.
    for version in versions:
        assert _answer(
            lambda v=version: own.delete_object(Bucket=bucket, Key=KEY, VersionId=v["VersionId"])
        ) == (DENIED)
    marker = listed["DeleteMarkers"][0]["VersionId"]
    assert _answer(lambda: own.delete_object(Bucket=bucket, Key=KEY, VersionId=marker)) == DENIED
    suspend = {"Status": "Suspended"}
    assert _answer(lambda: own.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=suspend)) == (
        DENIED
    )
    assert _answer(lambda: own.delete_bucket_lifecycle(Bucket=bucket)) == DENIED
    shorter = {"Rules": storage_policy.build_lifecycle_rules("", 1, abort_uploads=False)}
    assert _answer(
        lambda: own.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=shorter)
    ) == (DENIED)

    # Brought back by the club itself: the earlier version copied over the delete marker.
    source = {"Bucket": bucket, "Key": KEY, "VersionId": versions[1]["VersionId"]}
    own.copy_object(Bucket=bucket, Key=KEY, CopySource=source)
    assert own.get_object(Bucket=bucket, Key=KEY)["Body"].read() == b"first half"
    after = s3.list_object_versions(Bucket=bucket, Prefix=KEY)
    assert len(after["Versions"]) == 3  # nothing was lost on the way
    assert len(after["DeleteMarkers"]) == 1


def test_versioning_and_rules_undone_by_hand_are_repaired_and_a_resync_writes_nothing(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    s3: Any,
) -> None:
    bucket = _club(custom, namespace, "steady-media-fc", {})
    port, timeout = club_operator.metrics_port, club_operator.resync_sec * 10
    # The default window.
    rule = _rules(s3, bucket)[storage_policy.NONCURRENT_RULE_ID]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}

    server = S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)
    clubs.wait_reconciles(port, namespace, "steady-media-fc", 1, timeout=timeout)
    with server_trace(server, s3, signed_by=server.access_key) as traced:
        clubs.wait_reconciles(port, namespace, "steady-media-fc", 2, timeout=timeout)
    on_bucket = [call for call in traced if call.get("path", "").startswith(f"/{bucket}")]
    assert {call["funcname"] for call in on_bucket} >= {"s3.GetBucketVersioning", "s3.GetBucketLifecycle"}
    assert writes(on_bucket) == []

    # Drift: versioning suspended and the lifecycle rules deleted by hand.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket_lifecycle(Bucket=bucket)

    def repaired() -> bool:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        return versioning == "Enabled" and set(_rules(s3, bucket)) == {
            storage_policy.TEMPORARY_RULE_ID,
            storage_policy.NONCURRENT_RULE_ID,
        }

    clubs.wait_for("versioning and the lifecycle rules to be repaired", repaired, timeout=timeout)

    # A new window in the spec reaches the rule.
    patch = {"spec": {"storage": {"noncurrentVersionExpireDays": 2}}}
    crds.patch(custom, namespace, "Club", "steady-media-fc", patch)

    def window() -> object:
        found = _rules(s3, bucket).get(storage_policy.NONCURRENT_RULE_ID, {})
        return found.get("NoncurrentVersionExpiration")

    clubs.wait_for("the new window", lambda: window() == {"NoncurrentDays": 2}, timeout=timeout)
