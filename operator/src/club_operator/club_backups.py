"""A Club's ClubBackups as the operator looks after them once they exist (the ClubBackup controller,
clubbackups.py, runs their Jobs and writes their phase):

- `ensure_backups`, a step of the Club's reconcile: queue verify for each Succeeded backup not
  verified yet (backup_verify.py), apply retention (backup_retention.py: delete the ClubBackups it
  names), and sum the rest up into the Club's status and the club_backup_* gauges
  (backup_summary.py). The status reaches the Club through the reconcile's Outcome only.
- `backup_finished`, called by the ClubBackup controller when a backup ends: the same verify and
  retention at once, without waiting for the Club's next resync.
- `delete_objects`, on a ClubBackup's deletion (its finalizer): remove the backup's objects, every
  version, with the S3 server's admin credentials. Only while its Club lives: a Club being deleted
  (whose deletion garbage-collects the ClubBackups it owns) keeps its backups' objects, so a club
  deleted by mistake can still be restored."""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import kopf
import pydantic

from club_operator import (
    backup_objects,
    backup_record,
    backup_retention,
    backup_summary,
    backup_verify,
    club,
    club_servers,
    database,
    kube,
    metrics,
    naming,
)
from club_operator.backup_record import BackupRecord, Phase
from club_operator.builders import backup_job
from club_operator.club import Context
from club_operator.config import OperatorSettings, get_settings
from club_operator.outcome import Outcome
from club_operator.s3_server import StorageConflict, StorageUnavailable

log = logging.getLogger(__name__)

API_VERSION = f"{naming.GROUP}/{naming.VERSION}"
KIND = "ClubBackup"
PLURAL = "clubbackups"
# The Club's status fields backup_summary.py decides; one that no backup supports any more is removed.
STATUS_FIELDS = ("lastSuccessfulBackup", "lastBackupTime", "firstRecoverabilityPoint", "lastVerifiedRestore")


def ensure_backups(ctx: Context, out: Outcome) -> None:
    names = ctx.names
    try:
        found = list_backups(names.namespace, names.name)
    except kube.KubeError as exc:
        # The Club itself is fine: its backup status waits for the next reconcile.
        log.warning("reading the ClubBackups of Club %s/%s failed: %s", names.namespace, names.name, exc)
        return
    records = [backup_record.parse(o) for o in found]
    if ctx.spec.backup.verify:
        for obj, record in zip(found, records, strict=True):
            if needs_verify(record):
                _queue_verify(ctx, obj, record)
    for name in apply_retention(ctx, records):
        out.changed("backup", f"deleted ClubBackup {name} (retention)")
        records = [r for r in records if r.name != name]
    summary = backup_summary.summarise(records, verify=ctx.spec.backup.verify)
    out.fields.update(dict.fromkeys(STATUS_FIELDS) | summary.fields)
    if summary.condition is not None:
        out.conditions.append(summary.condition)
    _set_gauges(names.namespace, names.name, summary)


def backup_finished(body: Mapping[str, Any]) -> None:
    """A ClubBackup reached Succeeded or Failed (or was seen so on resume): verify it if its Club
    verifies backups, then apply the Club's retention. Safe to call again and again."""
    record = backup_record.parse(body)
    namespace = str(body["metadata"]["namespace"])
    ctx = _club_context(namespace, record.club)
    if ctx is None or not record.finished:
        return
    if ctx.spec.backup.verify and needs_verify(record):
        _queue_verify(ctx, body, record)
        return  # retention runs once verify has written its result
    apply_retention(ctx, [backup_record.parse(o) for o in list_backups(namespace, record.club)])


def delete_objects(body: Mapping[str, Any], runtime_sec: float, settings: OperatorSettings) -> None:
    """The ClubBackup is being deleted: remove its objects, unless its Club is gone or going (a
    Club's deletion keeps its backups). A server that cannot be reached is retried with backoff for
    deletion_give_up_after_sec, then given up on with a Warning Event (the objects stay)."""
    record = backup_record.parse(body)
    namespace = str(body["metadata"]["namespace"])
    ctx = _club_context(namespace, record.club)
    if ctx is None:
        if record.manifest:
            kube.event(
                body,
                warning=False,
                reason="ObjectsKept",
                message=f"Club {record.club} is gone or being deleted: the backup's objects stay in the "
                "backup bucket",
            )
        return
    where = _location(ctx, record)
    tenant = _tenant(ctx)
    # The id the Job was told (its name), not the one it reported: the report is the club's runtime's.
    told = backup_job.backup_id(record.name)
    if not backup_objects.own_folder(where, bucket=settings.backup_bucket, club_id=tenant, backup_id=told):
        kube.event(
            body,
            warning=True,
            reason="ObjectsKept",
            message=f"the backup's objects lie in {where.bucket}/{where.folder}, not in the folder of "
            f"backup {told} of the club in the backup bucket: left untouched",
        )
        return
    try:
        server = club_servers.storage_server(ctx.spec, namespace, settings)
        removed = backup_objects.delete_backup(server, where)
    except (club_servers.ServerNotConfigured, kube.InvalidSecret, StorageUnavailable, StorageConflict) as exc:
        if runtime_sec < settings.deletion_give_up_after_sec:
            raise kopf.TemporaryError(
                f"deleting the backup's objects: {exc}", delay=settings.retry_delay_sec
            ) from exc
        kube.event(
            body,
            warning=True,
            reason="CleanupAbandoned",
            message=f"gave up deleting the backup's objects in {where.bucket}/{where.folder}: {exc}"[:1000],
        )
        return
    if removed:
        kube.event(
            body,
            warning=False,
            reason="ObjectsDeleted",
            message=f"deleted {removed} object versions of the backup in {where.bucket}/{where.folder}",
        )


def list_backups(namespace: str, club_name: str) -> list[dict[str, Any]]:
    """The Club's ClubBackups (by spec.clubRef: one a person applied need not carry our labels)."""
    return [
        o
        for o in kube.list_objects(API_VERSION, KIND, namespace, "")
        if ((o.get("spec") or {}).get("clubRef") or {}).get("name") == club_name
    ]


def restoring_from(namespace: str, club_name: str) -> frozenset[str]:
    """The ClubBackups that the Club's unfinished ClubRestores will load: retention keeps them."""
    restores = kube.list_objects(API_VERSION, "ClubRestore", namespace, "")
    return frozenset(
        str(((o.get("spec") or {}).get("backupRef") or {}).get("name"))
        for o in restores
        if ((o.get("spec") or {}).get("clubRef") or {}).get("name") == club_name
        and (o.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )


def needs_verify(record: BackupRecord) -> bool:
    return record.phase is Phase.SUCCEEDED and record.verified is None and not record.deleting


def apply_retention(ctx: Context, records: list[BackupRecord]) -> list[str]:
    """Delete the ClubBackups retention names; returns the names deleted. One the API server would
    not delete now is left for the next time (a retention that lags never fails the Club)."""
    doomed = backup_retention.to_delete(
        records,
        ctx.spec.backup.retention,
        verify=ctx.spec.backup.verify,
        now=datetime.datetime.now(datetime.UTC),
        pinned=restoring_from(ctx.names.namespace, ctx.names.name),
    )
    deleted = []
    for name in doomed:
        try:
            kube.delete_custom(PLURAL, ctx.names.namespace, name)
        except kube.KubeError as exc:
            log.warning("retention could not delete ClubBackup %s/%s: %s", ctx.names.namespace, name, exc)
            continue
        log.info("retention deleted ClubBackup %s/%s", ctx.names.namespace, name)
        deleted.append(name)
    return deleted


def _queue_verify(ctx: Context, body: Mapping[str, Any], record: BackupRecord) -> None:
    if backup_verify.queued(str(body["metadata"]["uid"])):
        return
    names = ctx.names
    try:
        target = backup_verify.Target(
            namespace=names.namespace,
            name=record.name,
            uid=str(body["metadata"]["uid"]),
            club_id=uuid.UUID(_tenant(ctx)),
            backup_id=_backup_id(record),
            database=club_servers.database_server(ctx.spec, names.namespace, ctx.settings),
            storage=club_servers.storage_server(ctx.spec, names.namespace, ctx.settings),
            where=_location(ctx, record),
            reference={
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {
                    "namespace": names.namespace,
                    "name": record.name,
                    "uid": str(body["metadata"]["uid"]),
                },
            },
        )
    except (club_servers.ServerNotConfigured, database.InvalidServer, kube.InvalidSecret) as exc:
        # The Club's own conditions say what is wrong with its servers; verify waits for them.
        log.info("verify of ClubBackup %s/%s waits: %s", names.namespace, record.name, exc)
        return

    def then() -> None:
        apply_retention(ctx, [backup_record.parse(o) for o in list_backups(names.namespace, names.name)])

    backup_verify.queue(target, then)


def _club_context(namespace: str, name: str) -> Context | None:
    """The Club as its reconcile would see it; None when it is gone, being deleted or unusable."""
    from club_operator import reconcile  # the reconcile runs ensure_backups: imported when first used

    found = kube.read_custom(naming.CLUB_PLURAL, namespace, name) if name else None
    if found is None or (found.get("metadata") or {}).get("deletionTimestamp"):
        return None
    try:
        return reconcile.parse(club.from_body(found), get_settings())
    except pydantic.ValidationError:
        return None


def _tenant(ctx: Context) -> str:
    return ctx.club.tenant_id or ctx.club.uid


def _location(ctx: Context, record: BackupRecord) -> backup_objects.Location:
    return backup_objects.locate(
        record.manifest, bucket=ctx.settings.backup_bucket, club_id=_tenant(ctx), backup_id=_backup_id(record)
    )


def _backup_id(record: BackupRecord) -> str:
    """The id the backup was taken under: as its Job reported it, else as its Job was told."""
    return record.backup_id or backup_job.backup_id(record.name)


def _set_gauges(namespace: str, club_name: str, summary: backup_summary.BackupSummary) -> None:
    values = (
        summary.last_success_timestamp,
        summary.last_verified_timestamp,
        summary.size_bytes,
        summary.duration_seconds,
    )
    for gauge, value in zip(metrics.BACKUP_SERIES, values, strict=True):
        if value is None:
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, club_name)
        else:
            gauge.labels(namespace, club_name).set(value)
