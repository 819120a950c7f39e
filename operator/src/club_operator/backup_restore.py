"""Restoring a backup into a club's tenant, in the operator: a rollback (a ClubRestore: the club's own
backup) or a clone (a Club's spec.bootstrap.fromBackup: another club's backup, every id remapped).
The engine is the runtime's (club_runtime.backup.restore, what `club-runtime restore` runs): one
transaction on the club's database that replaces the club's rows only, so other clubs of a shared
database keep every row, and a crash leaves the rows as they were.

It runs here, not as a Job in the club's namespace, because it needs the database server's admin
credentials (the club's own role may not disable triggers, bulk-load or see the tables whole), and a
tenant namespace must never hold those; the backup bucket is read with the S3 server's admin
credentials too (the club's backup user may only write). One restore at a time, on one thread of its
own, as verify runs (backup_verify.py): a restore loads a whole club's rows, and several at once
would compete with every club's traffic for the server.

Pure parts (`problem`: can this ClubBackup be restored from?) apart from the blocking `run`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg

from club_operator import backup_objects, backup_record
from club_operator.backup_record import BackupRecord, Phase
from club_operator.builders import backup_job
from club_operator.database import Server
from club_operator.s3_server import S3Server
from club_runtime.backup import restore, store

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-restore")


class RestoreUnavailable(RuntimeError):
    """The restore could not run (a server could not be reached): nothing changed, try again."""


class RestoreFailed(RuntimeError):
    """The backup cannot be restored here (missing or corrupt objects, a newer schema): nothing
    changed, and trying again will not help."""


@dataclass(frozen=True)
class Problem:
    message: str
    permanent: bool  # True: this backup can never be restored from; False: wait for it


@dataclass(frozen=True)
class Request:
    """One restore, with what it needs, resolved by the caller."""

    database: Server
    database_name: str  # the target club's database
    storage: S3Server  # the S3 server holding the backup bucket
    where: backup_objects.Location
    source_club: uuid.UUID  # whose backup (the tenant id its folder is named by)
    target_club: uuid.UUID  # whose rows are replaced
    backup_id: str


def problem(  # noqa: PLR0911 - one return per reason, in the order they are judged
    found: Mapping[str, Any] | None, name: str, club: str, *, need_verified: bool
) -> Problem | None:
    """Why the ClubBackup `name` (as read: None when it does not exist) cannot be restored from now,
    None when it can. `club` is the Club it must belong to; `need_verified`: wait for verify to pass
    it (a Club that verifies its backups), else only a failed verify stops it."""
    if found is None:
        return Problem(f"ClubBackup {name} does not exist", permanent=False)
    record = backup_record.parse(found)
    if record.club != club:
        return Problem(f"ClubBackup {name} is a backup of Club {record.club}, not of {club}", permanent=True)
    if record.deleting:
        return Problem(f"ClubBackup {name} is being deleted", permanent=True)
    if record.phase is Phase.FAILED:
        return Problem(f"ClubBackup {name} failed: {record.message or record.reason}", permanent=True)
    if record.verified is False:
        return Problem(
            f"verify failed ClubBackup {name}: {record.verify_message}; it is never restored from",
            permanent=True,
        )
    if record.phase is not Phase.SUCCEEDED:
        return Problem(f"ClubBackup {name} is {record.phase}, not Succeeded yet", permanent=False)
    if need_verified and record.verified is None:
        return Problem(f"ClubBackup {name} has not been verified yet", permanent=False)
    return None


def backup_id(record: BackupRecord) -> str:
    """The id the backup was taken under: as its Job reported it, else as its Job was told."""
    return record.backup_id or backup_job.backup_id(record.name)


def locate(record: BackupRecord, *, bucket: str, source_club: str) -> backup_objects.Location:
    return backup_objects.locate(
        record.manifest, bucket=bucket, club_id=source_club, backup_id=backup_id(record)
    )


def run(request: Request) -> restore.Loaded:
    """Replace the target club's rows with the backup's (blocking: minutes for a big club).
    Raises RestoreUnavailable or RestoreFailed; either way nothing changed."""
    tail = f"{request.source_club}/{request.backup_id}/"
    if not request.where.folder.endswith(tail):
        raise RestoreFailed(
            f"the backup's manifest lies in {request.where.folder}, not in a folder of club "
            f"{request.source_club} named {request.backup_id}"
        )
    opened = backup_objects.open_bucket(request.storage, request.where.bucket)
    bucket = store.Store(opened.client, opened.bucket, request.where.folder[: -len(tail)], opened.part_size)
    wanted = restore.RestoreRequest(
        admin_dsn=request.database.admin(request.database_name),
        source_club=request.source_club,
        target_club=request.target_club,
        backup_id=request.backup_id,
    )
    try:
        return restore.restore(wanted, bucket)
    except (restore.RestoreError, store.BackupStoreError) as exc:
        if could_not_run(exc):
            raise RestoreUnavailable(str(exc)) from exc
        raise RestoreFailed(str(exc)) from exc


async def run_async(request: Request) -> restore.Loaded:
    """`run` on the restore thread, for a kopf daemon."""
    return await asyncio.get_running_loop().run_in_executor(_pool, run, request)


def run_waiting(request: Request) -> restore.Loaded:
    """`run` on the restore thread, waited for from a sync handler's thread."""
    return _pool.submit(run, request).result()


def could_not_run(exc: BaseException) -> bool:
    """A server that could not be reached is no verdict on the backup (looks down the chain of
    causes: the restore wraps psycopg's errors, the store botocore's)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, store.BackupStoreError) and not isinstance(cause, store.BackupMissing):
            return True
        if isinstance(cause, psycopg.OperationalError):
            return True
        cause = cause.__cause__
    return False
