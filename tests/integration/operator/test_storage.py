"""The storage step against the stack's real MinIO: what a club gets, what it can reach with its
own credentials, that a reconcile in steady state writes nothing (checked in the server's own
trace), that drift is repaired, and that a down server fails fast without leaking a secret."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException

from club_devstack.datastores import MinioInfo
from club_devstack.stack import StackInfo
from club_operator import storage, storage_policy
from club_operator.storage import S3Server, StoragePlan

EVERYTHING = ("bucket", "versioning", "policy", "user", "attachment", "lifecycle", "quota")
MiB = 1024 * 1024


@pytest.fixture
def server(stack: StackInfo) -> S3Server:
    return S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)


@pytest.fixture
def admin(stack: StackInfo) -> Any:
    return MinioAdmin(
        endpoint=stack.minio.endpoint.split("://")[1],
        credentials=StaticProvider(stack.minio.access_key, stack.minio.secret_key),
        secure=False,
    )


@pytest.fixture
def make_plan(server: S3Server) -> Iterator[Callable[..., StoragePlan]]:
    """Plans with names of their own; their storage is deleted afterwards."""
    plans: list[StoragePlan] = []

    def make(quota_bytes: int | None = 4 * MiB) -> StoragePlan:
        name = f"club-t-{uuid.uuid4().hex[:10]}"
        plan = StoragePlan(name, name, uuid.uuid4().hex, name, quota_bytes, "tmp/", 3)
        plans.append(plan)
        return plan

    yield make
    for plan in plans:
        storage.delete_storage(server, plan)


@pytest.fixture
def plan(make_plan: Callable[..., StoragePlan]) -> StoragePlan:
    return make_plan()


def club_s3(server: S3Server, plan: StoragePlan) -> Any:
    return MinioInfo(server.endpoint, server.access_key, server.secret_key).client(plan.user, plan.secret_key)


def error_code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


@contextmanager
def server_trace(server: S3Server, s3: Any, signed_by: str) -> Iterator[list[dict[str, Any]]]:
    """The S3 and admin calls signed with the access key `signed_by` that MinIO itself traces
    while the block runs (its admin trace API).

    A marker request before and after the block makes sure the subscription was live for the
    whole block and that its last events have arrived."""
    url = f"{server.endpoint}/minio/admin/v3/trace?s3=true&internal=true"
    request = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", server.region).add_auth(request)
    http = urllib3.PoolManager()
    response = http.request(
        "GET", url, headers=dict(request.headers), preload_content=False, timeout=urllib3.Timeout(connect=2)
    )
    assert response.status == 200
    seen: list[dict[str, Any]] = []

    def read() -> None:
        buffer = b""
        try:
            for chunk in response.stream(4096):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                seen.extend(json.loads(line) for line in lines if line.strip())
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            return

    def mark() -> None:
        marker = f"trace-marker-{uuid.uuid4().hex}"
        error_code(lambda: s3.head_bucket(Bucket=marker))
        deadline = time.monotonic() + 10
        while not any(entry.get("path") == f"/{marker}" for entry in list(seen)):
            assert time.monotonic() < deadline, "the server trace never showed the marker request"
            time.sleep(0.05)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        mark()
        start = len(seen)
        during: list[dict[str, Any]] = []
        yield during
        mark()
        during.extend(entry for entry in seen[start:] if f"Credential={signed_by}/" in authorization(entry))
    finally:
        response.shutdown()
        response.release_conn()
        reader.join(timeout=5)


def authorization(entry: dict[str, Any]) -> str:
    headers = entry.get("http", {}).get("request", {}).get("headers", {})
    return " ".join(headers.get("Authorization", []))


def writes(calls: list[dict[str, Any]]) -> list[str]:
    """The traced calls that are not reads, by the server's name for them."""
    methods = ((call["funcname"], call.get("http", {}).get("request", {}).get("method")) for call in calls)
    return [name for name, method in methods if method not in {"GET", "HEAD"}]


@pytest.fixture
def own_admin(server: S3Server, admin: Any) -> Iterator[S3Server]:
    """The server as seen through an admin user of this test's own, so that the server's trace
    tells this test's calls from those of other tests sharing the stack."""
    access_key, secret_key = f"t-admin-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    admin.user_add(access_key, secret_key)
    admin.attach_policy(["consoleAdmin"], user=access_key)
    yield S3Server(server.endpoint, access_key, secret_key)
    admin.user_remove(access_key)


def test_first_ensure_creates_everything_and_the_second_sends_no_write(
    own_admin: S3Server, plan: StoragePlan, s3: Any
) -> None:
    server = own_admin
    with server_trace(server, s3, signed_by=server.access_key) as first:
        assert storage.ensure_storage(server, plan).changed == EVERYTHING
    assert storage.storage_ready(server, plan)
    # The trace does see this module's writes: one per thing created.
    assert writes(first) == [
        "s3.PutBucket",
        "s3.PutBucketVersioning",
        "admin.AddCannedPolicy",
        "admin.AddUser",
        "admin.SetPolicyForUserOrGroup",
        "s3.PutBucketLifecycle",
        "admin.PutBucketQuotaConfig",
    ]

    with server_trace(server, s3, signed_by=server.access_key) as second:
        assert storage.ensure_storage(server, plan).changed == ()

    reads = {entry["funcname"] for entry in second}
    expected = {
        "s3.GetBucketLocation",
        "s3.GetBucketVersioning",
        "admin.GetUserInfo",
        "s3.GetBucketLifecycle",
    }
    assert expected <= reads, reads
    assert writes(second) == []


def test_club_credentials_reach_only_their_own_bucket(
    server: S3Server, plan: StoragePlan, bucket: str, s3: Any
) -> None:
    storage.ensure_storage(server, plan)
    club = club_s3(server, plan)

    club.put_object(Bucket=plan.bucket, Key="videos/a.mp4", Body=b"match")
    assert club.get_object(Bucket=plan.bucket, Key="videos/a.mp4")["Body"].read() == b"match"
    listed = club.list_objects_v2(Bucket=plan.bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["videos/a.mp4"]
    club.delete_object(Bucket=plan.bucket, Key="videos/a.mp4")
    assert club.list_objects_v2(Bucket=plan.bucket)["KeyCount"] == 0

    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"not yours")
    assert error_code(lambda: club.get_object(Bucket=bucket, Key="secret.txt")) == "AccessDenied"
    assert error_code(lambda: club.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert error_code(lambda: club.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: club.delete_object(Bucket=bucket, Key="secret.txt")) == "AccessDenied"
    assert error_code(lambda: club.create_bucket(Bucket=f"{plan.bucket}-more")) == "AccessDenied"
    # MinIO answers ListBuckets for any user, listing only the buckets its policy reaches.
    assert [item["Name"] for item in club.list_buckets()["Buckets"]] == [plan.bucket]
    assert error_code(lambda: club.delete_bucket(Bucket=plan.bucket)) == "AccessDenied"
    assert error_code(lambda: club.delete_bucket_lifecycle(Bucket=plan.bucket)) == "AccessDenied"


def test_a_second_club_cannot_read_the_first_clubs_objects(
    server: S3Server, make_plan: Callable[..., StoragePlan]
) -> None:
    first, second = make_plan(), make_plan()
    storage.ensure_storage(server, first)
    storage.ensure_storage(server, second)
    club_s3(server, first).put_object(Bucket=first.bucket, Key="roster.csv", Body=b"players")
    intruder = club_s3(server, second)

    assert error_code(lambda: intruder.get_object(Bucket=first.bucket, Key="roster.csv")) == "AccessDenied"
    assert error_code(lambda: intruder.list_objects_v2(Bucket=first.bucket)) == "AccessDenied"
    assert error_code(lambda: intruder.delete_object(Bucket=first.bucket, Key="roster.csv")) == "AccessDenied"
    assert intruder.list_objects_v2(Bucket=second.bucket)["KeyCount"] == 0


def test_lifecycle_rule_and_hard_quota_are_on_the_server(
    server: S3Server, plan: StoragePlan, s3: Any, admin: Any
) -> None:
    storage.ensure_storage(server, plan)

    rules = s3.get_bucket_lifecycle_configuration(Bucket=plan.bucket)["Rules"]
    assert rules == [
        {
            "ID": storage_policy.TEMPORARY_RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": "tmp/"},
            "Expiration": {"Days": 3},
        },
        {
            "ID": storage_policy.NONCURRENT_RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "NoncurrentVersionExpiration": {"NoncurrentDays": plan.noncurrent_expire_days},
        },
    ]
    quota = json.loads(admin.bucket_quota_get(plan.bucket))
    assert (quota["quota"], quota["quotatype"]) == (4 * MiB, "hard")
    club = club_s3(server, plan)
    assert error_code(lambda: club.put_object(Bucket=plan.bucket, Key="big", Body=b"x" * 5 * MiB)) == (
        "XMinioAdminBucketQuotaExceeded"
    )


def test_quota_follows_the_plan(server: S3Server, plan: StoragePlan, admin: Any) -> None:
    storage.ensure_storage(server, plan)
    bigger = StoragePlan(**{**plan.__dict__, "quota_bytes": 8 * MiB})
    assert storage.ensure_storage(server, bigger).changed == ("quota",)
    assert json.loads(admin.bucket_quota_get(plan.bucket))["quota"] == 8 * MiB

    unlimited = StoragePlan(**{**plan.__dict__, "quota_bytes": None})
    assert storage.ensure_storage(server, unlimited).changed == ("quota",)
    assert json.loads(admin.bucket_quota_get(plan.bucket))["quota"] == 0
    assert storage.ensure_storage(server, unlimited).changed == ()


def remove_policy(admin: Any, s3: Any, plan: StoragePlan) -> None:
    admin.detach_policy([plan.policy_name], user=plan.user)  # MinIO keeps an attached policy
    admin.policy_remove(plan.policy_name)


def widen_policy(admin: Any, s3: Any, plan: StoragePlan) -> None:
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}],
    }
    admin.policy_add(plan.policy_name, policy=everything)


def attach_readwrite(admin: Any, s3: Any, plan: StoragePlan) -> None:
    admin.attach_policy(["readwrite"], user=plan.user)


def change_secret(admin: Any, s3: Any, plan: StoragePlan) -> None:
    admin.user_add(plan.user, uuid.uuid4().hex)


def disable_user(admin: Any, s3: Any, plan: StoragePlan) -> None:
    admin.user_disable(plan.user)


def remove_user(admin: Any, s3: Any, plan: StoragePlan) -> None:
    admin.user_remove(plan.user)


def delete_lifecycle(admin: Any, s3: Any, plan: StoragePlan) -> None:
    s3.delete_bucket_lifecycle(Bucket=plan.bucket)


def change_lifecycle(admin: Any, s3: Any, plan: StoragePlan) -> None:
    rules = storage_policy.build_lifecycle_rules("tmp/", 30, abort_uploads=False)
    s3.put_bucket_lifecycle_configuration(Bucket=plan.bucket, LifecycleConfiguration={"Rules": rules})


def suspend_versioning(admin: Any, s3: Any, plan: StoragePlan) -> None:
    s3.put_bucket_versioning(Bucket=plan.bucket, VersioningConfiguration={"Status": "Suspended"})


def clear_quota(admin: Any, s3: Any, plan: StoragePlan) -> None:
    admin.bucket_quota_clear(plan.bucket)


def delete_bucket(admin: Any, s3: Any, plan: StoragePlan) -> None:
    s3.delete_bucket(Bucket=plan.bucket)


@pytest.mark.parametrize(
    ("drift", "repaired"),
    [
        (remove_policy, ("policy", "attachment")),
        (widen_policy, ("policy",)),
        (attach_readwrite, ("attachment",)),
        (change_secret, ("user",)),
        (disable_user, ("user",)),
        (remove_user, ("user", "attachment")),
        (delete_lifecycle, ("lifecycle",)),
        (change_lifecycle, ("lifecycle",)),
        (suspend_versioning, ("versioning",)),
        (clear_quota, ("quota",)),
        (delete_bucket, ("bucket", "versioning", "lifecycle", "quota")),
    ],
)
def test_drift_made_by_hand_is_repaired(
    server: S3Server,
    plan: StoragePlan,
    s3: Any,
    *,
    admin: Any,
    bucket: str,
    drift: Callable[[Any, Any, StoragePlan], None],
    repaired: tuple[str, ...],
) -> None:
    storage.ensure_storage(server, plan)
    drift(admin, s3, plan)

    assert storage.ensure_storage(server, plan).changed == repaired
    assert storage.ensure_storage(server, plan).changed == ()
    club = club_s3(server, plan)
    club.put_object(Bucket=plan.bucket, Key="after-repair", Body=b"ok")
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert error_code(lambda: club.get_object(Bucket=bucket, Key="other")) == "AccessDenied"


# What a refused connection is called by boto3 (S3 calls) and by urllib3 (MinIO's admin calls).
REFUSED = {"EndpointConnectionError", "NewConnectionError"}


def assert_unavailable(call: Callable[[], object], server: S3Server, causes: set[str]) -> None:
    """The call fails as StorageUnavailable caused by one of `causes`, naming the endpoint and not
    the secret. (How long that takes is a figure of bench/bench_storage_unavailable.py.)"""
    with pytest.raises(storage.StorageUnavailable) as caught:
        call()
    cause = caught.value.__cause__
    assert f"unreachable ({type(cause).__name__})" in str(caught.value)
    if isinstance(cause, urllib3.exceptions.MaxRetryError):  # urllib3 gave up: on what
        cause = cause.reason
    assert type(cause).__name__ in causes, repr(caught.value.__cause__)
    assert server.secret_key not in str(caught.value)
    assert _endpoint_port(server) in str(caught.value)


def _endpoint_port(server: S3Server) -> str:
    return server.endpoint.rsplit(":", 1)[1]


def test_a_server_on_a_wrong_port_is_unavailable(server: S3Server, plan: StoragePlan) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    down = S3Server(f"http://127.0.0.1:{port}", server.access_key, server.secret_key)

    assert_unavailable(lambda: storage.ensure_storage(down, plan), down, REFUSED)
    assert_unavailable(lambda: storage.delete_storage(down, plan), down, REFUSED)
    assert_unavailable(lambda: storage.storage_ready(down, plan), down, REFUSED)


def test_a_server_that_never_answers_times_out_in_few_tries(server: S3Server, plan: StoragePlan) -> None:
    """The read timeout fires (the call does not hang) and the retries are bounded: the silent
    server sees at most two connections (boto3's max_attempts)."""
    accepted: list[socket.socket] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]

        def accept() -> None:  # accept and hold every connection; never read, never answer
            with contextlib.suppress(OSError):
                while True:
                    accepted.append(silent.accept()[0])

        threading.Thread(target=accept, daemon=True).start()
        mute = S3Server(f"http://127.0.0.1:{port}", server.access_key, server.secret_key, timeout_s=0.5)
        try:
            assert_unavailable(lambda: storage.ensure_storage(mute, plan), mute, {"ReadTimeoutError"})
            assert 1 <= len(accepted) <= 2, len(accepted)
        finally:
            for conn in accepted:
                conn.close()


def test_wrong_admin_credentials_are_unavailable_without_leaking_them(
    server: S3Server, plan: StoragePlan
) -> None:
    wrong = S3Server(server.endpoint, server.access_key, "not-the-admin-secret-" + uuid.uuid4().hex)
    with pytest.raises(storage.StorageUnavailable, match="SignatureDoesNotMatch") as caught:
        storage.ensure_storage(wrong, plan)
    assert wrong.secret_key not in str(caught.value)
    assert plan.secret_key not in str(caught.value)
    assert wrong.secret_key not in repr(wrong)
    assert plan.secret_key not in repr(plan)


def test_an_invalid_bucket_name_is_a_conflict(
    server: S3Server, make_plan: Callable[..., StoragePlan]
) -> None:
    invalid = StoragePlan(**{**make_plan().__dict__, "bucket": "Not_A_Valid_Bucket"})
    with pytest.raises(storage.StorageConflict, match="Not_A_Valid_Bucket"):
        storage.ensure_storage(server, invalid)


def test_an_aws_server_is_refused_until_supported(server: S3Server, plan: StoragePlan) -> None:
    aws = S3Server(server.endpoint, server.access_key, server.secret_key, kind="aws")
    with pytest.raises(storage.StorageConflict, match="'aws' is not supported"):
        storage.ensure_storage(aws, plan)


def test_delete_storage_removes_bucket_objects_user_and_policy_and_is_idempotent(
    server: S3Server, plan: StoragePlan, s3: Any, admin: Any
) -> None:
    storage.ensure_storage(server, plan)
    club = club_s3(server, plan)
    for key in ("videos/a.mp4", "tmp/upload-1", "reports/2024.pdf"):
        club.put_object(Bucket=plan.bucket, Key=key, Body=b"data")
    club.create_multipart_upload(Bucket=plan.bucket, Key="tmp/half-done")

    storage.delete_storage(server, plan)

    assert error_code(lambda: s3.head_bucket(Bucket=plan.bucket)) == "404"
    for read, name in ((admin.user_info, plan.user), (admin.policy_info, plan.policy_name)):
        with pytest.raises(MinioAdminException, match="404"):
            read(name)
    assert not storage.storage_ready(server, plan)
    storage.delete_storage(server, plan)
