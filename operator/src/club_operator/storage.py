"""A club's storage on an S3 server: its bucket (versioned), its own user limited to that bucket,
lifecycle rules expiring temporary uploads and earlier versions and, where the server has one, a
hard quota.

The bucket is versioned so that a video deleted or overwritten by the club's credentials can be
brought back: the club's user may list and read earlier versions (s3:ListBucketVersions,
s3:GetObjectVersion) and copy one back as the current version, but has no s3:DeleteObjectVersion,
so it cannot remove one. A lifecycle rule removes a version `noncurrent_expire_days` after it stopped
being current, then the delete marker left with no version behind it.

The club's access key alternates between two users holding the same policy (s3_keys.py): the
one the storage Secret names is the plan's `user`; s3_rotation.py adds and removes the other
(`add_key_user`, `remove_key_user`), and `delete_storage` removes both.

`ensure_storage` reads everything first and writes only what differs from the plan, so a
reconcile in steady state sends no write; `StorageResult.changed` names what was written.
Server errors arrive translated (s3_server.py): `StorageUnavailable` (retry later) or
`StorageConflict` (the server refuses the plan). A plan with an `owner` also checks ownership
(ownership.py): the bucket's tags name its Club, and a bucket, policy or user that belongs to another
raises `ownership.Conflict` before anything is written; `delete_storage` removes only what is the
Club's own.

Only MinIO is handled so far (its admin API through the `minio` package). On AWS, IAM generates
the secret of an access key, so a plan carrying a caller-made secret cannot describe it; that
needs a different contract and is refused with `StorageConflict` until then.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError
from minio.error import MinioAdminException

from club_operator import ownership, s3_keys, storage_policy
from club_operator.ownership import Found, Owner
from club_operator.s3_server import (
    BAD_CLUB_CREDENTIALS,
    MISSING,
    S3Server,
    StorageConflict,
    StorageUnavailable,
    admin_client,
    admin_s3,
    admin_status,
    error_code,
    remove_user_and_policy,
    s3_client,
    translated,
)

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import LifecycleRuleTypeDef, ObjectIdentifierTypeDef

__all__ = [
    "S3Server",
    "StorageConflict",
    "StoragePlan",
    "StorageResult",
    "StorageUnavailable",
    "add_key_user",
    "delete_storage",
    "ensure_storage",
    "key_user_exists",
    "remove_key_user",
    "storage_ready",
]

log = logging.getLogger(__name__)


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
    owner: Owner | None = None  # the Club (tenant = its uid); None: no ownership records (tests)
    adopt: bool = False  # take back a bucket kept by an earlier Club of the same namespace/name
    bucket_from_spec: bool = False  # named in the spec rather than derived from the Club
    noncurrent_expire_days: int = 30  # earlier versions of objects are kept this long

    def __repr__(self) -> str:
        return f"StoragePlan(bucket={self.bucket!r}, user={self.user!r}, policy={self.policy_name!r})"


@dataclass(frozen=True)
class StorageResult:
    changed: tuple[str, ...]  # bucket, owner, versioning, policy, user, attachment, lifecycle, quota
    owner: Owner | None = None  # the bucket's owner as recorded (its tenant id keys the objects)


def ensure_storage(server: S3Server, plan: StoragePlan) -> StorageResult:
    """Create or repair the club's storage; writes nothing when it already matches the plan."""
    changed: list[str] = []
    with translated(server, f"ensuring storage for bucket {plan.bucket!r}"):
        s3, admin = admin_s3(server), admin_client(server)
        # The bucket's existence and the Club's policy are each read once. The first request stays
        # what it was: with an owner, the bucket's existence (to claim it); without, the user.
        claim = None
        if plan.owner is not None:
            exists = _bucket_exists(s3, plan.bucket)
            policy = _admin_json(admin.policy_info, plan.policy_name)
            claim = _claim_bucket(s3, plan, plan.owner, exists, policy)
            user = _admin_json(admin.user_info, plan.user)  # re-adding a user keeps its policies
            _check_user(plan, policy)
        else:
            user = _admin_json(admin.user_info, plan.user)
            policy = _admin_json(admin.policy_info, plan.policy_name)
            exists = _bucket_exists(s3, plan.bucket)
        if _ensure_bucket(s3, plan.bucket, exists):
            changed.append("bucket")
        if claim is not None and (claim.write or "bucket" in changed):
            _tag_bucket(s3, plan.bucket, claim.owner)
            changed.append("owner")
        if _ensure_versioning(s3, plan.bucket):
            changed.append("versioning")
        if _ensure_policy(admin, plan, policy):
            changed.append("policy")
        if _ensure_user(admin, server, plan, user):
            changed.append("user")
        if _ensure_attachment(admin, plan.user, plan.policy_name, user):
            changed.append("attachment")
        if _ensure_lifecycle(s3, plan):
            changed.append("lifecycle")
        if _ensure_quota(admin, plan):
            changed.append("quota")
    if changed:
        log.info("Storage of bucket %s: wrote %s", plan.bucket, ", ".join(changed))
    return StorageResult(tuple(changed), None if claim is None else claim.owner)


def delete_storage(server: S3Server, plan: StoragePlan) -> list[str]:
    """Empty and remove the bucket, then remove the user and its policy; missing parts are fine.
    With an owner in the plan, only what is the Club's own goes; returns what was kept."""
    kept: list[str] = []
    with translated(server, f"deleting storage of bucket {plan.bucket!r}"):
        s3, admin = admin_s3(server), admin_client(server)
        if _bucket_exists(s3, plan.bucket):
            recorded = Owner.from_tags(_bucket_tags(s3, plan.bucket))
            if plan.owner is None or (recorded is not None and recorded.uid == plan.owner.uid):
                _empty_bucket(s3, plan.bucket)
                s3.delete_bucket(Bucket=plan.bucket)
                log.info("Deleted bucket %s", plan.bucket)
            else:
                kept.append(f"bucket {plan.bucket}")
        if plan.owner is not None:
            policy = _admin_json(admin.policy_info, plan.policy_name)
            if policy is not None and _buckets_of(policy) - {plan.bucket}:
                kept.append(f"user {plan.user}")
                return kept
        # The user the key alternates with (s3_keys.py) first: MinIO keeps a policy still attached.
        alternate = s3_keys.alternate_user(plan.user)
        try:
            _remove_key_user(admin, alternate, plan.policy_name)
        except ownership.Conflict:
            kept.append(f"user {alternate}")
        remove_user_and_policy(admin, plan.user, plan.policy_name, "user")
    return kept


# A Club's access key alternates between its two users (s3_keys.py, s3_rotation.py): the user not in
# the Secret is added with a new key, or removed once no pod uses it. A user of that name that holds
# a policy other than the Club's is not the Club's (ownership.Conflict): it is never touched.


def key_user_exists(server: S3Server, user: str, policy_name: str) -> bool:
    """Whether the S3 user `user` (one of the Club's two) exists. Raises ownership.Conflict when it
    holds a policy other than the Club's `policy_name`."""
    with translated(server, f"reading S3 user {user!r}"):
        return _key_user(admin_client(server), user, policy_name) is not None


def add_key_user(server: S3Server, user: str, secret_key: str, policy_name: str) -> None:
    """Create `user` (or give it a new secret key, enabled) holding only the Club's policy (which
    ensure_storage wrote). Raises ownership.Conflict as key_user_exists."""
    with translated(server, f"adding S3 user {user!r}"):
        admin = admin_client(server)
        info = _key_user(admin, user, policy_name)
        admin.user_add(user, secret_key)
        _ensure_attachment(admin, user, policy_name, info)
        log.info("Wrote S3 user %s with a new key", user)


def remove_key_user(server: S3Server, user: str, policy_name: str) -> bool:
    """Remove `user`: the server refuses its key from then on. False when it did not exist. Raises
    ownership.Conflict as key_user_exists."""
    with translated(server, f"removing S3 user {user!r}"):
        return _remove_key_user(admin_client(server), user, policy_name)


def _key_user(admin: Any, user: str, policy_name: str) -> dict[str, Any] | None:
    info = _admin_json(admin.user_info, user)
    attached = {name for name in str((info or {}).get("policyName") or "").split(",") if name}
    if attached - {policy_name}:
        raise ownership.Conflict(
            f"S3 user {user} holds policies other than {policy_name}: it is not the Club's, the operator "
            "leaves it untouched"
        )
    return info


def _remove_key_user(admin: Any, user: str, policy_name: str) -> bool:
    if _key_user(admin, user, policy_name) is None:
        return False
    try:
        admin.user_remove(user)
    except MinioAdminException as exc:
        if admin_status(exc) != 404:
            raise
        return False
    log.info("Removed S3 user %s", user)
    return True


def storage_ready(server: S3Server, plan: StoragePlan) -> bool:
    """Whether the club's own credentials can list its bucket (one request, nothing written).

    An unreachable server raises StorageUnavailable rather than answering False."""
    with translated(server, f"checking bucket {plan.bucket!r} with the club's credentials"):
        return _club_can_list(s3_client(server, plan.user, plan.secret_key), plan.bucket) == "ok"


# Steps: each reads, compares and writes only on a difference; True when it wrote.


def _ensure_bucket(s3: S3Client, bucket: str, exists: bool) -> bool:
    if exists:
        return False
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) != "BucketAlreadyOwnedByYou":  # created concurrently by ourselves
            raise
    log.info("Created bucket %s", bucket)
    return True


def _ensure_versioning(s3: S3Client, bucket: str) -> bool:
    # "Enabled", "Suspended" (turned off by hand: objects deleted since then are gone for good) or
    # absent (never versioned).
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
        return False
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    log.info("Enabled versioning of bucket %s", bucket)
    return True


def _ensure_policy(admin: Any, plan: StoragePlan, current: dict[str, Any] | None) -> bool:
    desired = storage_policy.build_user_policy(plan.bucket)
    if current is not None and storage_policy.policy_equal(current, desired):
        return False
    admin.policy_add(plan.policy_name, policy=desired)
    log.info("Wrote policy %s", plan.policy_name)
    return True


def _ensure_user(admin: Any, server: S3Server, plan: StoragePlan, info: dict[str, Any] | None) -> bool:
    if info is not None and info.get("status") == "enabled":
        answer = _club_can_list(s3_client(server, plan.user, plan.secret_key), plan.bucket)
        if answer != "bad-credentials":
            return False
    # Adding an existing user sets its secret and enables it; its policies stay attached.
    admin.user_add(plan.user, plan.secret_key)
    log.info("Wrote user %s (%s)", plan.user, "created" if info is None else "secret or status reset")
    return True


def _ensure_attachment(admin: Any, user: str, policy_name: str, info: dict[str, Any] | None) -> bool:
    attached = {name for name in str((info or {}).get("policyName") or "").split(",") if name}
    if attached == {policy_name}:
        return False
    # Anything more than the club's own policy would widen its access: setting the user's policies
    # replaces them all. (Not attach/detach: MinIO encrypts those payloads with a key derived by
    # Argon2id, about 0.1 s of CPU and 64 MiB per call on each side, twice per call.)
    admin.policy_set(policy_name, user=user)
    log.info("Set the policies of user %s to %s (were: %s)", user, policy_name, sorted(attached))
    return True


def _ensure_lifecycle(s3: S3Client, plan: StoragePlan) -> bool:
    desired = storage_policy.build_lifecycle_rules(
        plan.temporary_prefix,
        plan.temporary_expire_days,
        abort_uploads=False,
        noncurrent_expire_days=plan.noncurrent_expire_days,
    )
    try:
        current: list[Any] = list(s3.get_bucket_lifecycle_configuration(Bucket=plan.bucket)["Rules"])
    except ClientError as exc:
        if error_code(exc) not in MISSING:
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


# Ownership


def _bucket_tags(s3: S3Client, bucket: str) -> dict[str, str]:
    try:
        found = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        if error_code(exc) in MISSING | {"NoSuchTagSet"}:
            return {}
        raise
    return {tag["Key"]: tag["Value"] for tag in found}


def _tag_bucket(s3: S3Client, bucket: str, owner: Owner) -> None:
    """Record the owner in the bucket's tags, keeping tags of anyone else."""
    tags = {k: v for k, v in _bucket_tags(s3, bucket).items() if k not in ownership.TAG_KEYS}
    tags.update(owner.to_tags())
    s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
    )
    log.info("Recorded the owner of bucket %s", bucket)


def _claim_bucket(
    s3: S3Client, plan: StoragePlan, owner: Owner, exists: bool, policy: dict[str, Any] | None
) -> ownership.Claim:
    """Whether the Club `owner` may use the bucket (ownership.judge), given whether it exists and
    the Club's policy as read."""
    if not exists:
        return ownership.judge("bucket", plan.bucket, Found(False), owner, adopt=False, adopt_field="")
    record = Owner.from_tags(_bucket_tags(s3, plan.bucket))
    # Unrecorded: the operator made it for this Club if the Club's policy already grants it (an
    # operator older than records), or, for a derived name, if it is still empty (a crash between
    # creating it and tagging it).
    ours = record is None and (
        (policy is not None and _buckets_of(policy) == {plan.bucket})
        or (not plan.bucket_from_spec and _is_empty(s3, plan.bucket))
    )
    found = Found(True, record, ours)
    return ownership.judge("bucket", plan.bucket, found, owner, adopt=plan.adopt, adopt_field="bucket")


def _buckets_of(document: dict[str, Any]) -> set[str]:
    found = set()
    for statement in storage_policy.normalise_policy(document):
        for resource in statement.get("Resource", []):
            found.add(str(resource).removeprefix("arn:aws:s3:::").split("/", 1)[0])
    return found


def _check_user(plan: StoragePlan, policy: dict[str, Any] | None) -> None:
    """The Club's policy (as read) must grant no other bucket: the policy, and the user it is made
    for, would be another Club's. (Other policies attached to the user are drift, replaced later.)
    Raises ownership.Conflict."""
    if policy is not None and _buckets_of(policy) - {plan.bucket}:
        raise ownership.Conflict(
            f"S3 policy {plan.policy_name} of user {plan.user} grants another bucket: the operator "
            "leaves it untouched"
        )


def _is_empty(s3: S3Client, bucket: str) -> bool:
    # Earlier versions and delete markers count: a bucket holding only those is not empty.
    found = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    return not found.get("Versions") and not found.get("DeleteMarkers")


# Reads


def _bucket_exists(s3: S3Client, bucket: str) -> bool:
    # Not HeadBucket: its answers have no body, so a wrong admin secret and a bucket owned by
    # someone else would both be a bare 403.
    try:
        s3.get_bucket_location(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in MISSING:
            return False
        if error_code(exc) == "AccessDenied":
            raise StorageConflict(f"bucket {bucket!r} exists but is not ours to manage") from exc
        raise
    return True


def _club_can_list(club_s3: S3Client, bucket: str) -> str:
    """'ok', 'bad-credentials' (unknown key or wrong secret) or 'denied' (valid key, no access)."""
    try:
        club_s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        if error_code(exc) in BAD_CLUB_CREDENTIALS:
            return "bad-credentials"
        if error_code(exc) in MISSING | {"403", "AccessDenied"}:
            return "denied"
        raise
    return "ok"


def _admin_json(read: Any, name: str) -> dict[str, Any] | None:
    """An admin read as JSON, or None when the server says the named thing does not exist."""
    try:
        return dict(json.loads(read(name)))
    except MinioAdminException as exc:
        if admin_status(exc) == 404:
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
