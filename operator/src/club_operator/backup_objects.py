"""A club's backups in the backup bucket, as the operator reaches them: with the S3 server's admin
credentials (the club's own backup credentials may write but never delete, and verify runs here,
not in the club's namespace). Where a ClubBackup's objects lie, the runtime's view of the bucket for
verify, and the removal of one backup's objects, every version of each: a versioned bucket keeps
a deleted object's data as a non-current version, and retention means the data goes.

Errors arrive translated as in storage.py (s3_server.translated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from club_operator.s3_server import S3Server, StorageConflict, admin_s3, error_code, translated
from club_runtime import contract
from club_runtime.backup import store

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef

# Where the runtime's backup Job puts a club's backups in the backup bucket (its BACKUP_S3_PREFIX).
PREFIX = "clubs/"
_PART_SIZE = 8 * 1024 * 1024  # the runtime's default; the operator only reads with it


@dataclass(frozen=True)
class Location:
    """One backup's folder in the backup bucket."""

    bucket: str
    folder: str  # ends with '/'


def locate(manifest: str | None, *, bucket: str, club_id: str, backup_id: str) -> Location:
    """Where a backup's objects lie: beside its manifest (`s3://bucket/<folder>manifest.json`, as the
    backup Job reported it), else where the Job writes a backup with this id (a failed one may have
    left table objects without a manifest)."""
    suffix = "/" + contract.BACKUP_MANIFEST_NAME
    if manifest and manifest.startswith("s3://") and manifest.endswith(suffix):
        found_bucket, _, key = manifest[len("s3://") :].partition("/")
        if found_bucket and key != contract.BACKUP_MANIFEST_NAME:
            return Location(found_bucket, key[: -len(contract.BACKUP_MANIFEST_NAME)])
    return Location(bucket, contract.backup_folder(PREFIX, club_id, backup_id))


def own_folder(where: Location, *, bucket: str, club_id: str, backup_id: str) -> bool:
    """Whether `where` is exactly the folder of backup `backup_id` of club `club_id` in the backup
    bucket: what a ClubBackup's deletion may remove. A manifest place the Job reported (the club's
    runtime writes that report) never widens it to the club's other backups."""
    return where == Location(bucket, contract.backup_folder(PREFIX, club_id, backup_id))


def open_bucket(server: S3Server, bucket: str) -> store.Store:
    """The backup bucket as club_runtime.backup reads it, with the admin's client."""
    return store.Store(admin_s3(server), bucket, PREFIX, _PART_SIZE)


def delete_backup(server: S3Server, where: Location) -> int:
    """Delete every version (and delete marker) of every object in the backup's folder; returns how
    many were removed. Nothing there is fine."""
    if not where.folder.endswith("/") or where.folder == "/":
        raise ValueError(f"a backup's folder ends with '/': {where.folder!r}")
    removed = 0
    doing = f"deleting backup {where.folder} in bucket {where.bucket!r}"
    with translated(server, doing):
        s3 = admin_s3(server)
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=where.bucket, Prefix=where.folder)
        try:
            for page in pages:
                found: list[ObjectIdentifierTypeDef] = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                ]
                if not found:
                    continue
                answer = s3.delete_objects(Bucket=where.bucket, Delete={"Objects": found, "Quiet": True})
                refused = answer.get("Errors") or []
                if refused:
                    first = refused[0]
                    raise StorageConflict(
                        f"{doing}: {len(refused)} objects were not deleted, the first "
                        f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message', '')}".rstrip()
                    )
                removed += len(found)
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucket":
                return removed  # no bucket, no backup left in it
            raise
    return removed
