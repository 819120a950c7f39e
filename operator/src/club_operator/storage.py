"""A club's storage on an S3 server: its bucket, its own user limited to that bucket, a lifecycle
rule expiring temporary uploads and, where the server has one, a hard quota.

`ensure_storage` reads everything first and writes only what differs from the plan, so a
reconcile in steady state sends no write; `StorageResult.changed` names what was written.
Server errors are translated at this boundary: unreachable, slow, 5xx or refusing the admin
credentials gives `StorageUnavailable` (retry later); a plan the server rejects gives
`StorageConflict`. Messages name the endpoint and the resource, never a secret.

Only MinIO is handled so far (its admin API through the `minio` package). On AWS, IAM generates
the secret of an access key, so a plan carrying a caller-made secret cannot describe it; that
needs a different contract and is refused with `StorageConflict` until then.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException

from club_operator import minio_payload, storage_policy

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import LifecycleRuleTypeDef, ObjectIdentifierTypeDef

log = logging.getLogger(__name__)

# Sent as the User-Agent of every request this module makes, so a server trace can single it out.
USER_AGENT = "club-operator-storage"
_MISSING = {"404", "NoSuchBucket", "NoSuchKey", "NoSuchLifecycleConfiguration", "NotFound"}
_BAD_CLUB_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch"}
_BAD_ADMIN_CREDENTIALS = _BAD_CLUB_CREDENTIALS | {"AccessDenied", "XMinioAdminInvalidAccessKey"}


@dataclass(frozen=True)
class S3Server:
    """The server named by a Secret or the operator's default, with admin credentials."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    kind: str = "minio"
    timeout_s: float = 5.0  # per connect and per read; a down server fails within seconds

    def __repr__(self) -> str:
        return f"S3Server(endpoint={self.endpoint!r}, kind={self.kind!r})"


@dataclass(frozen=True)
class StoragePlan:
    """The desired state of one club's storage, built by the caller from the Club."""

    bucket: str
    user: str
    secret_key: str
    policy_name: str
    quota_bytes: int | None
    temporary_prefix: str
    temporary_expire_days: int

    def __repr__(self) -> str:
        return f"StoragePlan(bucket={self.bucket!r}, user={self.user!r}, policy={self.policy_name!r})"


@dataclass(frozen=True)
class StorageResult:
    changed: tuple[str, ...]  # bucket, user, policy, attachment, lifecycle, quota: written this time


class StorageUnavailable(Exception):
    """The server is unreachable, too slow, failing (5xx) or refuses the admin credentials."""


class StorageConflict(Exception):
    """The server refuses the plan itself (bucket owned by someone else, invalid name, ...)."""


def ensure_storage(server: S3Server, plan: StoragePlan) -> StorageResult:
    """Create or repair the club's storage; writes nothing when it already matches the plan."""
    changed: list[str] = []
    with _translated(server, f"ensuring storage for bucket {plan.bucket!r}"):
        s3, admin = _s3(server, server.access_key, server.secret_key), _admin(server)
        if _ensure_bucket(s3, plan.bucket):
            changed.append("bucket")
        if _ensure_policy(admin, plan):
            changed.append("policy")
        user = _admin_json(admin.user_info, plan.user)  # re-adding a user keeps its policies
        if _ensure_user(admin, server, plan, user):
            changed.append("user")
        if _ensure_attachment(admin, plan, user):
            changed.append("attachment")
        if _ensure_lifecycle(s3, plan):
            changed.append("lifecycle")
        if _ensure_quota(admin, plan):
            changed.append("quota")
    if changed:
        log.info("Storage of bucket %s: wrote %s", plan.bucket, ", ".join(changed))
    return StorageResult(tuple(changed))


def delete_storage(server: S3Server, plan: StoragePlan) -> None:
    """Empty and remove the bucket, then remove the user and its policy; missing parts are fine."""
    with _translated(server, f"deleting storage of bucket {plan.bucket!r}"):
        s3, admin = _s3(server, server.access_key, server.secret_key), _admin(server)
        if _bucket_exists(s3, plan.bucket):
            _empty_bucket(s3, plan.bucket)
            s3.delete_bucket(Bucket=plan.bucket)
            log.info("Deleted bucket %s", plan.bucket)
        # The user first: MinIO refuses to remove a policy that is still attached.
        # MinIO answers 404 for a missing user but removes a missing policy without complaint.
        for kind, remove, name in (
            ("user", admin.user_remove, plan.user),
            ("policy", admin.policy_remove, plan.policy_name),
        ):
            try:
                remove(name)
            except MinioAdminException as exc:
                if _admin_status(exc) != 404:
                    raise
            else:
                log.info("Removed %s %s", kind, name)


def storage_ready(server: S3Server, plan: StoragePlan) -> bool:
    """Whether the club's own credentials can list its bucket (one request, nothing written).

    An unreachable server raises StorageUnavailable rather than answering False."""
    with _translated(server, f"checking bucket {plan.bucket!r} with the club's credentials"):
        return _club_can_list(_s3(server, plan.user, plan.secret_key), plan.bucket) == "ok"


# Clients


# Clients are made once and shared by every reconcile thread: making one costs more CPU than the
# requests a reconcile sends with it (boto3 loads its service model, MinIO's admin sets up a pool).
# Both kinds are thread-safe once made; making them is not, hence the lock.
_clients_lock = threading.Lock()
_admins: dict[S3Server, Any] = {}
_s3_clients: OrderedDict[tuple[S3Server, str, str], S3Client] = OrderedDict()
# The admin's client per server, and a club's own for the last clubs reconciled (a resync goes round
# them all, so a club's client is mostly found again only while it is being provisioned).
_CLUB_CLIENTS = 64
_POOL_SIZE = 16  # connections kept per server: about as many as reconciles run at once


def _s3(server: S3Server, access_key: str, secret_key: str) -> S3Client:
    _check_kind(server)
    key = (server, access_key, secret_key)
    with _clients_lock:
        found = _s3_clients.get(key)
        if found is None:
            found = _s3_clients[key] = _make_s3(server, access_key, secret_key)
            clubs = [k for k in _s3_clients if k[1] != k[0].access_key]
            for oldest in clubs[: max(0, len(clubs) - _CLUB_CLIENTS)]:
                del _s3_clients[oldest]
        _s3_clients.move_to_end(key)
        return found


def _make_s3(server: S3Server, access_key: str, secret_key: str) -> S3Client:
    config = Config(
        connect_timeout=server.timeout_s,
        read_timeout=server.timeout_s,
        retries={"mode": "standard", "max_attempts": 2},
        user_agent_extra=USER_AGENT,
        s3={"addressing_style": "path"},
        max_pool_connections=_POOL_SIZE,
    )
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=server.region,
        config=config,
    )


def _admin(server: S3Server) -> Any:
    with _clients_lock:
        found = _admins.get(server)
        if found is None:
            found = _admins[server] = _make_admin(server)
        return found


def _make_admin(server: S3Server) -> Any:
    minio_payload.install()
    url = urlsplit(server.endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=server.timeout_s, read=server.timeout_s),
        # One retry on a dropped connection; none on 5xx, which the caller retries with backoff.
        retries=urllib3.Retry(total=1, status=0, backoff_factor=0.2),
        maxsize=_POOL_SIZE,
    )
    admin = MinioAdmin(
        endpoint=url.netloc.rpartition("@")[2],
        credentials=StaticProvider(server.access_key, server.secret_key),
        region=server.region,
        secure=url.scheme == "https",
        http_client=http,
    )
    admin.set_app_info(USER_AGENT, "1")
    return admin


def _check_kind(server: S3Server) -> None:
    if server.kind != "minio":
        raise StorageConflict(
            f"S3 server kind {server.kind!r} is not supported yet (only 'minio'): on AWS, IAM "
            "generates the access key's secret, which a StoragePlan cannot carry"
        )


# Steps: each reads, compares and writes only on a difference; True when it wrote.


def _ensure_bucket(s3: S3Client, bucket: str) -> bool:
    if _bucket_exists(s3, bucket):
        return False
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) != "BucketAlreadyOwnedByYou":  # created concurrently by ourselves
            raise
    log.info("Created bucket %s", bucket)
    return True


def _ensure_policy(admin: Any, plan: StoragePlan) -> bool:
    desired = storage_policy.build_user_policy(plan.bucket)
    current = _admin_json(admin.policy_info, plan.policy_name)
    if current is not None and storage_policy.policy_equal(current, desired):
        return False
    admin.policy_add(plan.policy_name, policy=desired)
    log.info("Wrote policy %s", plan.policy_name)
    return True


def _ensure_user(admin: Any, server: S3Server, plan: StoragePlan, info: dict[str, Any] | None) -> bool:
    if info is not None and info.get("status") == "enabled":
        answer = _club_can_list(_s3(server, plan.user, plan.secret_key), plan.bucket)
        if answer != "bad-credentials":
            return False
    # Adding an existing user sets its secret and enables it; its policies stay attached.
    admin.user_add(plan.user, plan.secret_key)
    log.info("Wrote user %s (%s)", plan.user, "created" if info is None else "secret or status reset")
    return True


def _ensure_attachment(admin: Any, plan: StoragePlan, info: dict[str, Any] | None) -> bool:
    attached = {name for name in str((info or {}).get("policyName") or "").split(",") if name}
    if attached == {plan.policy_name}:
        return False
    # Anything more than the club's own policy would widen its access: setting the user's policies
    # replaces them all. (Not attach/detach: MinIO encrypts those payloads with a key derived by
    # Argon2id, about 0.1 s of CPU and 64 MiB per call on each side, twice per call.)
    admin.policy_set(plan.policy_name, user=plan.user)
    log.info("Set the policies of user %s to %s (were: %s)", plan.user, plan.policy_name, sorted(attached))
    return True


def _ensure_lifecycle(s3: S3Client, plan: StoragePlan) -> bool:
    desired = storage_policy.build_lifecycle_rules(
        plan.temporary_prefix, plan.temporary_expire_days, abort_uploads=False
    )
    try:
        current: list[Any] = list(s3.get_bucket_lifecycle_configuration(Bucket=plan.bucket)["Rules"])
    except ClientError as exc:
        if _code(exc) not in _MISSING:
            raise
        current = []
    if storage_policy.lifecycle_equal(current, desired):
        return False
    rules = cast("list[LifecycleRuleTypeDef]", desired)
    s3.put_bucket_lifecycle_configuration(Bucket=plan.bucket, LifecycleConfiguration={"Rules": rules})
    log.info("Wrote lifecycle of bucket %s", plan.bucket)
    return True


def _ensure_quota(admin: Any, plan: StoragePlan) -> bool:
    quota = json.loads(admin.bucket_quota_get(plan.bucket) or "{}")
    # MinIO reports "no quota" as a quota of 0, and clearing one sets it to 0.
    current = int(quota.get("quota") or 0) or None
    if current == plan.quota_bytes:
        return False
    admin.bucket_quota_set(plan.bucket, plan.quota_bytes or 0)
    log.info("Set quota of bucket %s to %s bytes", plan.bucket, plan.quota_bytes or "none")
    return True


# Reads


def _bucket_exists(s3: S3Client, bucket: str) -> bool:
    # Not HeadBucket: its answers have no body, so a wrong admin secret and a bucket owned by
    # someone else would both be a bare 403.
    try:
        s3.get_bucket_location(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return False
        if _code(exc) == "AccessDenied":
            raise StorageConflict(f"bucket {bucket!r} exists but is not ours to manage") from exc
        raise
    return True


def _club_can_list(club_s3: S3Client, bucket: str) -> str:
    """'ok', 'bad-credentials' (unknown key or wrong secret) or 'denied' (valid key, no access)."""
    try:
        club_s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        if _code(exc) in _BAD_CLUB_CREDENTIALS:
            return "bad-credentials"
        if _code(exc) in _MISSING | {"403", "AccessDenied"}:
            return "denied"
        raise
    return "ok"


def _admin_json(read: Any, name: str) -> dict[str, Any] | None:
    """An admin read as JSON, or None when the server says the named thing does not exist."""
    try:
        return dict(json.loads(read(name)))
    except MinioAdminException as exc:
        if _admin_status(exc) == 404:
            return None
        raise


def _empty_bucket(s3: S3Client, bucket: str) -> None:
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found = page.get("Versions", []) + page.get("DeleteMarkers", [])
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"], "VersionId": item["VersionId"]} for item in found
        ]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


# Error translation


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _admin_status(exc: MinioAdminException) -> int:
    return int(getattr(exc, "_code", 0) or 0)


def _admin_error(exc: MinioAdminException) -> str:
    """The error code and message of an admin API answer (names and reasons, no secrets)."""
    try:
        body = json.loads(getattr(exc, "_body", "") or "{}")
    except ValueError:
        return ""
    return f"{body.get('Code', '')}: {body.get('Message', '')}"


@contextmanager
def _translated(server: S3Server, doing: str) -> Iterator[None]:
    """Turn the libraries' errors into StorageUnavailable / StorageConflict, keeping the cause."""
    where = f"S3 server {_safe_endpoint(server.endpoint)} while {doing}"
    try:
        yield
    except (StorageUnavailable, StorageConflict):
        raise
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = f"{where}: {_code(exc)} {exc.response.get('Error', {}).get('Message', '')}".strip()
        if status >= 500 or _code(exc) in _BAD_ADMIN_CREDENTIALS:
            raise StorageUnavailable(message) from exc
        raise StorageConflict(message) from exc
    except ParamValidationError as exc:
        raise StorageConflict(f"{where}: invalid request: {exc}") from exc
    except MinioAdminException as exc:
        message = f"{where}: admin API answered {_admin_status(exc)} {_admin_error(exc)}"
        if _admin_status(exc) >= 500 or _admin_status(exc) == 403:
            raise StorageUnavailable(message) from exc
        raise StorageConflict(message) from exc
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"{where}: unreachable ({type(exc).__name__})") from exc


def _safe_endpoint(endpoint: str) -> str:
    url = urlsplit(endpoint)
    return f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")


# Objects of a Club's bucket, for VideoJobs (with the server's admin credentials)


def object_size(server: S3Server, bucket: str, key: str) -> int | None:
    """The object's size in bytes, or None when it does not exist."""
    with _translated(server, f"looking up object {key!r} in bucket {bucket!r}"):
        try:
            head = _s3(server, server.access_key, server.secret_key).head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])


def delete_prefix(server: S3Server, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix/` (a job's outputs); returns how many there were."""
    deleted = 0
    with _translated(server, f"deleting {prefix}/ in bucket {bucket!r}"):
        s3 = _s3(server, server.access_key, server.secret_key)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
    return deleted
