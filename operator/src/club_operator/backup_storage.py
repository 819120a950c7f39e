"""Where a club's backups live, and who may write them.

One backup bucket per S3 server (the operator setting `backup_bucket`), shared by every club on it,
created by the operator with the server's admin credentials and kept versioned. A club's backups
live in its folder `clubs/<tenant id>/` (the runtime's BACKUP_S3_PREFIX is `clubs/`; the layout
below it is club_runtime.contract's). Each club gets a backup writer of its own, an S3 user whose
policy (storage_policy.build_backup_policy) lets it add objects to its folder, read them back and
list them, and nothing else: no delete, and no other folder. In a versioned bucket an overwrite
keeps the earlier version, so nothing a writer once put can be lost through its credentials. The
club's runtime user (storage.py) has no grant on the backup bucket at all. Deleting objects
(retention, or a ClubBackup's deletion) takes the admin credentials.

No lifecycle rule expires non-current versions: one would let an overwrite erase a backup after
the rule's delay. MinIO reclaims the parts of uploads left incomplete by itself.

Ownership (ownership.py): the shared bucket belongs to no Club, and a bucket that records a Club as
its owner is refused as the backup bucket. A backup writer is its Club's by the folder its policy
names: a policy that grants anything else (another tenant's folder, or widened by hand) raises
`ownership.Conflict` before anything is written, and deletion leaves it alone.

`ensure_backup_storage` reads first and writes only what differs, so a steady-state reconcile
sends no write. Errors arrive translated as in storage.py (s3_server.translated)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from minio.error import MinioAdminException

from club_operator import ownership, storage_policy
from club_operator.s3_server import (
    BAD_CLUB_CREDENTIALS,
    MISSING,
    S3Server,
    StorageConflict,
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

log = logging.getLogger(__name__)

PREFIX = "clubs/"
"""The runtime's BACKUP_S3_PREFIX: a club's folder is `<PREFIX><tenant id>/`."""


# Backup buckets found to be no Club's bucket, checked once per process: a Club cannot claim the
# backup bucket afterwards (reconcile.ensure_storage refuses it), so its tags are not read again.
_not_a_clubs: set[tuple[S3Server, str]] = set()


def club_folder(tenant_id: object) -> str:
    """The folder of one club's backups in the backup bucket (with its trailing slash)."""
    return f"{PREFIX}{tenant_id}/"


@dataclass(frozen=True)
class BackupPlan:
    """The desired state of one club's backup storage, built by the caller from the Club."""

    bucket: str  # the shared backup bucket
    folder: str  # club_folder(the club's tenant id)
    user: str
    secret_key: str
    policy_name: str

    def __repr__(self) -> str:
        return f"BackupPlan(bucket={self.bucket!r}, folder={self.folder!r}, user={self.user!r})"

    @property
    def policy(self) -> dict[str, Any]:
        return storage_policy.build_backup_policy(self.bucket, self.folder)


@dataclass(frozen=True)
class BackupResult:
    changed: tuple[str, ...]  # bucket, versioning, policy, user, attachment: written now


def ensure_backup_storage(server: S3Server, plan: BackupPlan) -> BackupResult:
    """Create or repair the backup bucket and the club's backup writer; writes nothing when they
    already match the plan. Raises ownership.Conflict, StorageUnavailable or StorageConflict."""
    changed: list[str] = []
    with translated(server, f"ensuring backup storage s3://{plan.bucket}/{plan.folder}"):
        s3, admin = admin_s3(server), admin_client(server)
        policy = _admin_json(admin.policy_info, plan.policy_name)
        _check_policy(plan, policy)
        user = _admin_json(admin.user_info, plan.user)
        versioning = _versioning(s3, plan.bucket)
        if versioning is None:
            _create_bucket(s3, plan.bucket)
            changed.append("bucket")
        elif (server, plan.bucket) not in _not_a_clubs:
            _check_not_a_clubs(s3, plan.bucket)
            _not_a_clubs.add((server, plan.bucket))
        if versioning != "Enabled":
            s3.put_bucket_versioning(Bucket=plan.bucket, VersioningConfiguration={"Status": "Enabled"})
            log.info("Enabled versioning of backup bucket %s", plan.bucket)
            changed.append("versioning")
        if policy is None or not storage_policy.policy_equal(policy, plan.policy):
            admin.policy_add(plan.policy_name, policy=plan.policy)
            log.info("Wrote backup policy %s", plan.policy_name)
            changed.append("policy")
        if _ensure_user(admin, server, plan, user):
            changed.append("user")
        attached = {name for name in str((user or {}).get("policyName") or "").split(",") if name}
        if attached != {plan.policy_name}:
            # Setting the user's policies replaces them all: anything more would widen its access.
            admin.policy_set(plan.policy_name, user=plan.user)
            log.info("Set the policies of backup user %s to %s", plan.user, plan.policy_name)
            changed.append("attachment")
    if changed:
        log.info("Backup storage of %s: wrote %s", plan.user, ", ".join(changed))
    return BackupResult(tuple(changed))


def delete_backup_access(server: S3Server, plan: BackupPlan) -> list[str]:
    """Remove the club's backup writer and its policy; its backups stay (they are what the club is
    recovered from). A writer whose policy grants more than the club's folder is not the Club's:
    it is left, and named in the list returned. Missing parts are fine."""
    with translated(server, f"removing backup user {plan.user!r}"):
        admin = admin_client(server)
        policy = _admin_json(admin.policy_info, plan.policy_name)
        if policy is not None and not _grants_only_the_folder(plan, policy):
            return [f"backup user {plan.user}"]
        remove_user_and_policy(admin, plan.user, plan.policy_name, "backup user")
    return []


def _grants_only_the_folder(plan: BackupPlan, policy: dict[str, Any]) -> bool:
    return storage_policy.resources_of(policy) <= storage_policy.resources_of(plan.policy)


def _check_policy(plan: BackupPlan, policy: dict[str, Any] | None) -> None:
    if policy is not None and not _grants_only_the_folder(plan, policy):
        raise ownership.Conflict(
            f"S3 policy {plan.policy_name} of backup user {plan.user} grants more than the club's backup "
            f"folder s3://{plan.bucket}/{plan.folder} (another Club's folder, or widened by hand): the "
            "operator leaves it untouched; remove the policy to have it made again"
        )


def _versioning(s3: S3Client, bucket: str) -> str | None:
    """The bucket's versioning status ("Enabled", "Suspended", "" never set), None when it does not
    exist. One request: the bucket's existence comes with it."""
    try:
        return str(s3.get_bucket_versioning(Bucket=bucket).get("Status") or "")
    except ClientError as exc:
        if error_code(exc) in MISSING:
            return None
        if error_code(exc) == "AccessDenied":
            raise StorageConflict(f"backup bucket {bucket!r} exists but is not ours to manage") from exc
        raise


def _create_bucket(s3: S3Client, bucket: str) -> None:
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) != "BucketAlreadyOwnedByYou":  # created concurrently for another club
            raise
    log.info("Created backup bucket %s", bucket)


def _check_not_a_clubs(s3: S3Client, bucket: str) -> None:
    try:
        tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        if error_code(exc) in MISSING | {"NoSuchTagSet"}:
            return
        raise
    owner = ownership.Owner.from_tags({tag["Key"]: tag["Value"] for tag in tags})
    if owner is not None:
        raise StorageConflict(
            f"backup bucket {bucket!r} is the bucket of Club {owner.namespace}/{owner.name}: set the "
            "operator's backup_bucket to a bucket of its own"
        )


def _ensure_user(admin: Any, server: S3Server, plan: BackupPlan, info: dict[str, Any] | None) -> bool:
    if info is not None and info.get("status") == "enabled" and not _bad_credentials(server, plan):
        return False
    # Adding an existing user sets its secret and enables it; its policies stay attached.
    admin.user_add(plan.user, plan.secret_key)
    log.info("Wrote backup user %s (%s)", plan.user, "created" if info is None else "secret or status reset")
    return True


def _bad_credentials(server: S3Server, plan: BackupPlan) -> bool:
    """Whether the server refuses the writer's key or secret (a listing of its own folder, the one
    thing it may list; denied only means the policy is not attached yet)."""
    try:
        s3_client(server, plan.user, plan.secret_key).list_objects_v2(
            Bucket=plan.bucket, Prefix=plan.folder, MaxKeys=1
        )
    except ClientError as exc:
        if error_code(exc) in BAD_CLUB_CREDENTIALS:
            return True
        if error_code(exc) in MISSING | {"403", "AccessDenied"}:
            return False
        raise
    return False


def _admin_json(read: Any, name: str) -> dict[str, Any] | None:
    """An admin read as JSON, or None when the server says the named thing does not exist."""
    try:
        return dict(json.loads(read(name)))
    except MinioAdminException as exc:
        if admin_status(exc) == 404:
            return None
        raise
