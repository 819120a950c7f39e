"""Verify in the operator: each Succeeded ClubBackup of a Club with `spec.backup.verify` is restored
into a scratch database on the club's own PostgreSQL server and checked against its manifest
(club_runtime.backup.verify). It runs here, not in a pod of the club's namespace, because making
a scratch database takes the server's admin credentials, which a tenant namespace must never hold;
the backup bucket is read with the S3 server's admin credentials too (the club's backup user may
only write).

One backup at a time, on one thread of its own (a restore loads a whole club's rows: several at once
would compete with the clubs' own traffic for the server). A backup is queued once, however often
it is asked for; the result goes into the ClubBackup's status through its one writer
(clubbackups.report_status): `verified`, `verifyMessage`, `restoreSeconds`, `verifiedTime`, and an
Event on the ClubBackup. A verify that could not run (the database or S3 server down) records
nothing: the backup stays unverified and is queued again after RETRY_AFTER_SEC."""

from __future__ import annotations

import contextvars
import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg

from club_operator import backup_objects, clubbackups, kube, metrics
from club_operator.backup_record import format_time
from club_operator.database import Server
from club_operator.s3_server import S3Server
from club_runtime.backup import store, verify

log = logging.getLogger(__name__)

RETRY_AFTER_SEC = 60.0
MESSAGE_MAX = 2000

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-verify")
_lock = threading.Lock()
_queued: set[str] = set()  # ClubBackup uids queued or being verified
_not_before: dict[str, float] = {}  # uid -> time.monotonic() before which it is not queued again


@dataclass(frozen=True)
class Target:
    """One backup to verify, with what verify needs, resolved where it was asked for."""

    namespace: str
    name: str  # the ClubBackup's
    uid: str
    club_id: uuid.UUID
    backup_id: str
    database: Server
    storage: S3Server
    where: backup_objects.Location
    reference: Mapping[str, Any]  # the ClubBackup as an Event's involved object


@dataclass(frozen=True)
class Result:
    verified: bool | None  # None: verify could not run
    message: str
    restore_seconds: float | None = None


def queue(target: Target, then: Callable[[], None] | None = None) -> bool:
    """Queue the backup's verify unless it is queued already or failed to run a moment ago; `then`
    runs after its result is written (retention). Returns whether it was queued now. Call it from a
    kopf handler: the Events it posts need that handler's context."""
    now = time.monotonic()
    with _lock:
        for uid in [u for u, at in _not_before.items() if at <= now]:
            del _not_before[uid]  # their wait is over (or their ClubBackup is gone)
        if target.uid in _queued or target.uid in _not_before:
            return False
        _queued.add(target.uid)
    context = contextvars.copy_context()
    _pool.submit(context.run, _verify_and_report, target, then)
    return True


def queued(uid: str) -> bool:
    with _lock:
        return uid in _queued


def _verify_and_report(target: Target, then: Callable[[], None] | None) -> None:
    try:
        result = run(target)
        if result.verified is None:
            with _lock:
                _not_before[target.uid] = time.monotonic() + RETRY_AFTER_SEC
            log.warning(
                "verify of ClubBackup %s/%s could not run: %s", target.namespace, target.name, result.message
            )
            return
        _report(target, result)
        if then is not None:
            then()
    except Exception:
        log.exception("verify of ClubBackup %s/%s failed", target.namespace, target.name)
        with _lock:
            _not_before[target.uid] = time.monotonic() + RETRY_AFTER_SEC
    finally:
        with _lock:
            _queued.discard(target.uid)


def run(target: Target) -> Result:
    """Restore the backup into a scratch database and check it (blocking: minutes for a big club)."""
    bucket = _bucket(target)
    if isinstance(bucket, Result):
        return bucket
    try:
        done = verify.verify(target.database.admin(), bucket, target.club_id, target.backup_id)
    except verify.VerifyFailed as exc:
        if _could_not_run(exc):
            metrics.BACKUP_VERIFIES.labels("error").inc()
            return Result(None, str(exc))
        metrics.BACKUP_VERIFIES.labels("failed").inc()
        return Result(False, str(exc)[:MESSAGE_MAX])
    except store.BackupStoreError as exc:
        metrics.BACKUP_VERIFIES.labels("error").inc()
        return Result(None, str(exc))
    metrics.BACKUP_VERIFIES.labels("passed").inc()
    tables = len(done.rows)
    rows = sum(done.rows.values())
    return Result(
        True,
        f"restored {rows} rows of {tables} tables into a scratch database in {done.restore_seconds:.1f}s: "
        "they match the manifest, and row-level security holds on them",
        done.restore_seconds,
    )


def _bucket(target: Target) -> store.Store | Result:
    """The backup bucket with the prefix this backup was written under (its folder is
    `<prefix><club id>/<backup id>/`)."""
    tail = f"{target.club_id}/{target.backup_id}/"
    if not target.where.folder.endswith(tail):
        return Result(
            False,
            f"the backup's manifest lies in {target.where.folder}, not in a folder of club "
            f"{target.club_id} named {target.backup_id}",
        )
    opened = backup_objects.open_bucket(target.storage, target.where.bucket)
    prefix = target.where.folder[: -len(tail)]
    return store.Store(opened.client, opened.bucket, prefix, opened.part_size)


def _could_not_run(exc: verify.VerifyFailed) -> bool:
    """A server that could not be reached is no verdict on the backup: try again later. A missing
    object, a corrupt one, rows that differ or rows the server refused are. Looks down the chain of
    causes (verify wraps the restore's errors, which wrap the libraries')."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, store.BackupStoreError) and not isinstance(cause, store.BackupMissing):
            return True
        if isinstance(cause, psycopg.OperationalError):
            return True
        cause = cause.__cause__
    return False


def _report(target: Target, result: Result) -> None:
    changes: dict[str, Any] = {
        "verified": result.verified,
        "verifyMessage": result.message,
        "verifiedTime": format_time(datetime.datetime.now(datetime.UTC)),
        "restoreSeconds": None if result.restore_seconds is None else round(result.restore_seconds, 3),
    }
    if clubbackups.report_status(target.namespace, target.name, changes) is None:
        return  # deleted meanwhile
    kube.event(
        target.reference,
        warning=not result.verified,
        reason="Verified" if result.verified else "VerifyFailed",
        message=result.message[:1000],
    )
