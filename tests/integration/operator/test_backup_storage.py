"""Where a club's backups live and who may write them, through the operator against the stack's real
MinIO: the club's runtime credentials cannot touch the backup bucket at all; its backup credentials
(the `<club>-backup` Secret) add to its own folder but never delete, and an overwrite keeps the
earlier version; another club's backup credentials cannot read or list the folder; deleting the
Club removes its backup writer and keeps its backups; a backup policy widened by hand is a Conflict
the operator leaves untouched."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException

from club_devstack.stack import StackInfo
from club_operator import storage_policy
from club_operator.s3_server import admin_status
from club_runtime import contract
from club_runtime.backup import snapshot, store
from club_runtime.settings import Settings
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

BUCKET = "club-backups"  # the operator's default backup_bucket
DENIED = "AccessDenied"


def _client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
    )


def _runtime_s3(core: k8s.CoreV1Api, namespace: str, name: str) -> Any:
    """The club's own S3 client, as its API and workers hold it."""
    data = clubs.secret_data(core, namespace, f"{name}-storage")
    return _client(data["endpoint"], data["region"], data["accessKeyId"], data["secretAccessKey"])


def _backup_s3(core: k8s.CoreV1Api, namespace: str, name: str) -> Any:
    """The club's backup writer's S3 client, as a backup Job holds it."""
    data = clubs.secret_data(core, namespace, f"{name}-backup")
    return _client(data["endpoint"], data["region"], data["accessKey"], data["secretKey"])


def _answer(call: Callable[[], object]) -> str:
    """'ok', or the error code the server answered."""
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def _versions(s3: Any, key: str) -> list[bytes]:
    """Every version of `key`, newest first (as S3 lists them), as the admin reads them."""
    found = s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
    return [
        s3.get_object(Bucket=BUCKET, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in found
        if v["Key"] == key
    ]


@pytest.fixture
def admin(stack: StackInfo) -> Any:
    return MinioAdmin(
        endpoint=stack.minio.endpoint.split("://")[1],
        credentials=StaticProvider(stack.minio.access_key, stack.minio.secret_key),
        secure=False,
    )


@pytest.fixture
def make_club(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str, s3: Any
) -> Iterator[Callable[[str], str]]:
    """A Ready Club of this namespace; returns its tenant id. Its folder in the backup bucket is
    emptied afterwards (every version, with the admin credentials)."""
    folders: list[str] = []

    def make(name: str) -> str:
        clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name.title()}, name))
        tenant = str(clubs.ready_status(custom, namespace, name)["tenantId"])
        folders.append(f"clubs/{tenant}/")
        return tenant

    yield make
    for folder in folders:
        listed = s3.list_object_versions(Bucket=BUCKET, Prefix=folder)
        found = listed.get("Versions", []) + listed.get("DeleteMarkers", [])
        if found:
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in found]
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


def test_the_clubs_own_credentials_can_neither_read_nor_write_nor_delete_its_backups(
    make_club: Callable[[str], str], core: k8s.CoreV1Api, namespace: str, s3: Any
) -> None:
    tenant = make_club("keeper-fc")
    folder = f"clubs/{tenant}/"
    key = f"{folder}seed/manifest.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"as backed up")
    (version,) = s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    own = _runtime_s3(core, namespace, "keeper-fc")

    assert _answer(lambda: own.get_object(Bucket=BUCKET, Key=key)) == DENIED
    assert _answer(lambda: own.head_object(Bucket=BUCKET, Key=key)) == "403"
    assert _answer(lambda: own.list_objects_v2(Bucket=BUCKET, Prefix=folder)) == DENIED
    assert _answer(lambda: own.list_objects_v2(Bucket=BUCKET)) == DENIED
    assert (
        _answer(lambda: own.put_object(Bucket=BUCKET, Key=f"{folder}new/manifest.json", Body=b"x")) == DENIED
    )
    assert _answer(lambda: own.put_object(Bucket=BUCKET, Key=key, Body=b"overwritten")) == DENIED
    assert _answer(lambda: own.delete_object(Bucket=BUCKET, Key=key)) == DENIED
    assert (
        _answer(lambda: own.delete_object(Bucket=BUCKET, Key=key, VersionId=version["VersionId"])) == DENIED
    )
    assert _answer(lambda: own.create_multipart_upload(Bucket=BUCKET, Key=f"{folder}big")) == DENIED
    # Nothing changed: one version of the one object, as written.
    assert _versions(s3, key) == [b"as backed up"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]] == [key]


def test_the_backup_credentials_add_to_the_clubs_folder_but_never_delete_or_lose_a_version(
    make_club: Callable[[str], str],
    core: k8s.CoreV1Api,
    custom: k8s.CustomObjectsApi,
    namespace: str,
    s3: Any,
) -> None:
    tenant = make_club("writer-fc")
    data = clubs.secret_data(core, namespace, "writer-fc-backup")
    assert (data["bucket"], data["prefix"]) == (BUCKET, "clubs/")
    assert data["endpoint"] == clubs.secret_data(core, namespace, "writer-fc-storage")["endpoint"]
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    storage_ready = clubs.condition(clubs.get_club(custom, namespace, "writer-fc"), "StorageReady")
    assert f"s3://{BUCKET}/clubs/{tenant}/" in storage_ready["message"]  # type: ignore[index]

    # The backup engine itself, given exactly the Secret's values and the club's own database role:
    # a whole backup (table objects by multipart upload or PUT, then the manifest) goes in.
    settings = Settings(
        backup_s3_endpoint_url=data["endpoint"],
        backup_s3_region=data["region"],
        backup_s3_bucket=data["bucket"],
        backup_s3_prefix=data["prefix"],
        backup_s3_access_key_id=data["accessKey"],
        backup_s3_secret_access_key=data["secretKey"],
    )
    dsn = clubs.secret_data(core, namespace, "writer-fc-database")["dsn"]
    request = snapshot.BackupRequest(uuid.UUID(tenant), dsn, snapshot.default_backup_id())
    taken = snapshot.take(request, store.connect(settings))
    manifest_key = contract.backup_manifest("clubs/", tenant, taken.backup_id)
    assert s3.head_object(Bucket=BUCKET, Key=manifest_key)["ContentLength"] > 0
    with pytest.raises(store.BackupExists):  # the engine's own guard, through these credentials too
        snapshot.take(request, store.connect(settings))

    writer = _backup_s3(core, namespace, "writer-fc")
    key = f"clubs/{tenant}/by-hand/manifest.json"
    assert _answer(lambda: writer.put_object(Bucket=BUCKET, Key=key, Body=b"first")) == "ok"
    assert writer.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"first"
    assert _answer(lambda: writer.delete_object(Bucket=BUCKET, Key=key)) == DENIED
    assert _answer(lambda: writer.delete_object(Bucket=BUCKET, Key=manifest_key)) == DENIED
    assert _answer(lambda: writer.put_object(Bucket=BUCKET, Key=key, Body=b"second")) == "ok"
    assert _versions(s3, key) == [b"second", b"first"]  # the overwrite kept the earlier version
    (earlier,) = [
        v for v in s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"] if not v["IsLatest"]
    ]
    assert (
        _answer(lambda: writer.delete_object(Bucket=BUCKET, Key=key, VersionId=earlier["VersionId"]))
        == DENIED
    )
    assert _versions(s3, key) == [b"second", b"first"]
    # Nowhere but its folder: not beside it, not at the top of the bucket, not a bucket listing.
    assert _answer(lambda: writer.put_object(Bucket=BUCKET, Key=f"clubs/{tenant}-x/a", Body=b"x")) == DENIED
    assert _answer(lambda: writer.put_object(Bucket=BUCKET, Key="elsewhere", Body=b"x")) == DENIED
    assert _answer(lambda: writer.list_objects_v2(Bucket=BUCKET)) == DENIED
    assert _answer(lambda: writer.list_objects_v2(Bucket=BUCKET, Prefix="clubs/")) == DENIED
    assert _answer(lambda: writer.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{tenant}/")) == "ok"


def test_another_clubs_backup_credentials_cannot_read_or_list_this_clubs_folder(
    make_club: Callable[[str], str], core: k8s.CoreV1Api, namespace: str, s3: Any
) -> None:
    mine, theirs = make_club("home-fc"), make_club("away-fc")
    key = f"clubs/{mine}/seed/manifest.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"home's")
    other = _backup_s3(core, namespace, "away-fc")

    assert _answer(lambda: other.get_object(Bucket=BUCKET, Key=key)) == DENIED
    assert _answer(lambda: other.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{mine}/")) == DENIED
    assert _answer(lambda: other.list_object_versions(Bucket=BUCKET, Prefix=f"clubs/{mine}/")) == DENIED
    assert _answer(lambda: other.list_objects_v2(Bucket=BUCKET)) == DENIED
    assert _answer(lambda: other.put_object(Bucket=BUCKET, Key=key, Body=b"away's")) == DENIED
    assert _answer(lambda: other.delete_object(Bucket=BUCKET, Key=key)) == DENIED
    assert _answer(lambda: other.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{theirs}/")) == "ok"
    assert _versions(s3, key) == [b"home's"]


def test_deleting_a_club_removes_its_backup_writer_and_keeps_its_backups(
    make_club: Callable[[str], str],
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    s3: Any,
    admin: Any,
) -> None:
    tenant = make_club("leaving-fc")
    user = clubs.secret_data(core, namespace, "leaving-fc-backup")["accessKey"]
    writer = _backup_s3(core, namespace, "leaving-fc")
    key = f"clubs/{tenant}/last/manifest.json"
    writer.put_object(Bucket=BUCKET, Key=key, Body=b"the last backup")

    clubs.delete_club(custom, namespace, "leaving-fc")
    assert _answer(lambda: writer.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{tenant}/")) == (
        "InvalidAccessKeyId"
    )
    for read in (admin.user_info, admin.policy_info):
        with pytest.raises(MinioAdminException) as gone:
            read(user)
        assert admin_status(gone.value) == 404
    assert _versions(s3, key) == [b"the last backup"]


def test_a_resync_writes_nothing_and_repairs_the_backup_storage_when_it_drifted(
    club_operator: RunningOperator,
    make_club: Callable[[str], str],
    core: k8s.CoreV1Api,
    namespace: str,
    s3: Any,
    admin: Any,
) -> None:
    tenant = make_club("steady-fc")
    port = club_operator.metrics_port

    def marks() -> tuple[object, ...]:
        secret = core.read_namespaced_secret("steady-fc-backup", namespace).metadata.resource_version
        events = sorted((e.reason, e.message, e.count) for e in clubs.events(core, namespace, "steady-fc"))
        return secret, events

    clubs.wait_reconciles(port, namespace, "steady-fc", 1, timeout=club_operator.resync_sec * 10)
    before = marks()
    clubs.wait_reconciles(port, namespace, "steady-fc", 2, timeout=club_operator.resync_sec * 10)
    assert marks() == before

    # Drift: versioning suspended and the writer's secret changed by hand.
    user = clubs.secret_data(core, namespace, "steady-fc-backup")["accessKey"]
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    admin.user_add(user, "changed-by-hand-" + uuid.uuid4().hex)
    writer = _backup_s3(core, namespace, "steady-fc")
    assert _answer(lambda: writer.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{tenant}/")) == (
        "SignatureDoesNotMatch"
    )

    def repaired() -> bool:
        versioning = s3.get_bucket_versioning(Bucket=BUCKET).get("Status")
        return versioning == "Enabled" and (
            _answer(lambda: writer.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{tenant}/")) == "ok"
        )

    clubs.wait_for("the backup storage to be repaired", repaired, timeout=club_operator.resync_sec * 10)


def test_a_backup_policy_granting_more_than_the_clubs_folder_is_a_conflict_left_untouched(
    club_operator: RunningOperator,
    make_club: Callable[[str], str],
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    admin: Any,
) -> None:
    make_club("widened-fc")
    policy = clubs.secret_data(core, namespace, "widened-fc-backup")["accessKey"]  # named as its user
    everything = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{BUCKET}/*"]}
        ],
    }
    admin.policy_add(policy, policy=everything)

    club = clubs.wait_condition(
        custom,
        namespace,
        "widened-fc",
        "StorageReady",
        "False",
        reason="Conflict",
        timeout=club_operator.resync_sec * 10,
    )
    message = clubs.condition(club, "StorageReady")["message"]  # type: ignore[index]
    assert f"S3 policy {policy}" in message
    assert "grants more than the club's backup folder" in message
    assert storage_policy.policy_equal(json.loads(admin.policy_info(policy)), everything)  # untouched

    # Removed by a person (the user first: MinIO keeps an attached policy), both are made again.
    admin.user_remove(policy)
    admin.policy_remove(policy)
    clubs.wait_condition(
        custom, namespace, "widened-fc", "StorageReady", "True", timeout=club_operator.resync_sec * 10
    )
    writer = _backup_s3(core, namespace, "widened-fc")
    tenant = club["status"]["tenantId"]
    assert _answer(lambda: writer.list_objects_v2(Bucket=BUCKET, Prefix=f"clubs/{tenant}/")) == "ok"
