"""What the operator does for ClubRestores, without the decorators (main.py has those).

A ClubRestore rolls a Club back to one of its own backups, in recorded steps (status.phase), each
safe to run again, so an operator that restarts mid-way goes on from the phase it recorded:

- Pending: waits until the backup is restorable (backup_restore.problem: Succeeded, not failed by
  verify, of this Club) and until it is the Club's oldest unfinished ClubRestore (one restore per
  Club at a time: the others wait, reason WaitingForRestore). A backup that can never be used
  fails the restore at once.
- SafetyBackup: a ClubBackup with trigger Safety, named `<restore>-safety` (recorded in
  status.safetyBackup first), owned by the Club, taken by the ClubBackup controller like any other;
  the restore waits for its phase. Its name is fixed, so a restart never takes a second one.
- Suspending: the Club gets the annotation `restore.footballclub.io/clubrestore: <restore>`; the Club's
  reconcile honours it as it honours spec.suspend (every workload scaled to zero), for as long as
  that ClubRestore exists unfinished, so a deleted restore never leaves a Club suspended. The
  Club's status stays its reconcile's. The restore waits until none of the club's pods is left.
- Restoring: the rows replaced (backup_restore.py: in the operator, one transaction, only this
  club's rows). A server that cannot be reached is retried; a backup that cannot be restored
  leaves the rows as they were, and the restore goes on to resume the club, then Fails.
- Resuming: the annotation removed; the Club's reconcile scales its workloads back. Then Succeeded
  (or Failed, when the restore itself failed).

Every phase change is an Event on the ClubRestore; its status is written only through `_report`."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from club_operator import (
    backup_record,
    backup_restore,
    club,
    club_servers,
    clubbackups,
    database,
    kube,
    naming,
)
from club_operator.backup_models import BackupTrigger, ClubRestoreSpec, RestorePhase
from club_operator.builders import backup_job
from club_operator.config import OperatorSettings

log = logging.getLogger(__name__)

PLURAL = "clubrestores"
KIND = "ClubRestore"
API_VERSION = f"{naming.GROUP}/{naming.VERSION}"
CLUB = (API_VERSION, "Club")
HOLD_ANNOTATION = club.RESTORE_ANNOTATION
POLL_SEC = 2.0
RETRY_SEC = 20.0  # after a restore that could not reach a server
UNAVAILABLE = "ServerUnavailable"
MESSAGE_MAX = 2000
RESTORE_FAILED = "RestoreFailed"
SAFETY_FOR_ANNOTATION = f"restore.{naming.GROUP}/safety-for"
"""On a safety ClubBackup: the uid of the ClubRestore that took it."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safety_name(restore: str) -> str:
    """The safety ClubBackup of the ClubRestore `restore` (a valid backup id and Job name)."""
    return backup_job.job_name(f"{restore}-safety")


def not_the_safety_backup(found: Mapping[str, Any], club_name: str, restore_uid: str) -> str | None:
    """Why the ClubBackup found under the safety backup's name is not the one this ClubRestore took
    (another Club's, not a safety backup, or one taken for another ClubRestore, an earlier one of
    the same name); None when it is."""
    name = (found.get("metadata") or {}).get("name")
    spec = found.get("spec") or {}
    owner = (spec.get("clubRef") or {}).get("name")
    if owner != club_name:
        return f"ClubBackup {name} is a backup of Club {owner}, not a safety backup of Club {club_name}"
    trigger = spec.get("trigger") or str(BackupTrigger.MANUAL)
    if trigger != BackupTrigger.SAFETY:
        return f"ClubBackup {name} is a {trigger} backup, not the safety backup this restore takes"
    taken_for = ((found.get("metadata") or {}).get("annotations") or {}).get(SAFETY_FOR_ANNOTATION)
    if taken_for != restore_uid:
        return f"ClubBackup {name} was not taken for this ClubRestore (an earlier one of the same name?)"
    return None


def finished(status: Mapping[str, Any]) -> bool:
    return status.get("phase") in (RestorePhase.SUCCEEDED, RestorePhase.FAILED)


def first_in_line(restores: Sequence[Mapping[str, Any]], club_name: str) -> str | None:
    """The Club's unfinished ClubRestore that goes first: the oldest (then by name)."""
    waiting = [
        r
        for r in restores
        if ((r.get("spec") or {}).get("clubRef") or {}).get("name") == club_name
        and not finished(r.get("status") or {})
        and not (r.get("metadata") or {}).get("deletionTimestamp")
    ]
    if not waiting:
        return None
    first = min(waiting, key=lambda r: (r["metadata"].get("creationTimestamp") or "", r["metadata"]["name"]))
    return str(first["metadata"]["name"])


def holds(namespace: str, restore: str | None) -> bool:
    """Whether the ClubRestore named by a Club's restore annotation still holds the Club suspended:
    it exists and has not finished."""
    if not restore:
        return False
    found = kube.read_custom(PLURAL, namespace, restore)
    return found is not None and not finished(found.get("status") or {})


def _status(phase: RestorePhase, reason: str, message: str, **more: Any) -> dict[str, Any]:
    return {"phase": str(phase), "reason": reason, "message": message[:MESSAGE_MAX], **more}


@dataclass(frozen=True)
class RestoreObject:
    namespace: str
    name: str
    spec: ClubRestoreSpec
    reference: Mapping[str, Any]

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RestoreObject:
        meta = body["metadata"]
        spec = ClubRestoreSpec.model_validate(body.get("spec") or {})
        reference = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
        }
        return cls(meta["namespace"], meta["name"], spec, reference)

    @property
    def uid(self) -> str:
        return str(self.reference["metadata"]["uid"])

    @property
    def club(self) -> str:
        return self.spec.club_ref.name

    @property
    def backup(self) -> str:
        return self.spec.backup_ref.name


def _club(restore: RestoreObject, settings: OperatorSettings) -> club.Context | None:
    """The Club as its reconcile sees it; None when it is gone or its spec cannot be used."""
    from club_operator import reconcile  # the reconcile reads `holds`: imported when first used

    found = kube.read_custom(naming.CLUB_PLURAL, restore.namespace, restore.club)
    if found is None or (found.get("metadata") or {}).get("deletionTimestamp"):
        return None
    try:
        return reconcile.parse(club.from_body(found), settings)
    except pydantic.ValidationError:
        return None


# --- the steps: each reads, maybe writes, and returns the status to report ----------------------


def _pending(restore: RestoreObject, settings: OperatorSettings) -> dict[str, Any]:
    ctx = _club(restore, settings)
    if ctx is None:
        return _status(RestorePhase.PENDING, "ClubNotFound", f"Club {restore.club} does not exist")
    if not ctx.club.tenant_id:
        return _status(RestorePhase.PENDING, "WaitingForClub", f"Club {restore.club} has no tenant id yet")
    found = kube.read_custom(clubbackups.PLURAL, restore.namespace, restore.backup)
    wrong = backup_restore.problem(found, restore.backup, restore.club, need_verified=False)
    if wrong is not None:
        if wrong.permanent:
            return _status(RestorePhase.FAILED, "BackupUnusable", wrong.message, completionTime=_now())
        return _status(RestorePhase.PENDING, "WaitingForBackup", wrong.message)
    restores = kube.list_objects(API_VERSION, KIND, restore.namespace, "")
    first = first_in_line(restores, restore.club)
    if first is not None and first != restore.name:
        return _status(
            RestorePhase.PENDING,
            "WaitingForRestore",
            f"ClubRestore {first} of Club {restore.club} goes first: one restore of a club at a time",
        )
    name = safety_name(restore.name)
    return _status(
        RestorePhase.SAFETY_BACKUP,
        "TakingSafetyBackup",
        f"taking safety backup {name} before the club's rows are replaced",
        safetyBackup=name,
        startTime=_now(),
    )


def _safety_backup(
    restore: RestoreObject, current: Mapping[str, Any], settings: OperatorSettings
) -> dict[str, Any]:
    name = str(current.get("safetyBackup") or safety_name(restore.name))
    found = kube.read_custom(clubbackups.PLURAL, restore.namespace, name)
    if found is None:
        ctx = _club(restore, settings)
        if ctx is None:
            return _failed("ClubNotFound", f"Club {restore.club} is gone")
        body = clubbackups.manifest(restore.namespace, name, ctx.club.owner, BackupTrigger.SAFETY)
        body["metadata"]["annotations"] = {SAFETY_FOR_ANNOTATION: restore.uid}
        if kube.create_custom(clubbackups.PLURAL, restore.namespace, body):
            log.info("made safety ClubBackup %s/%s", restore.namespace, name)
        return {}
    wrong = not_the_safety_backup(found, restore.club, restore.uid)
    if wrong is not None:
        return _failed("SafetyBackupNameTaken", f"{wrong}: delete it or name the ClubRestore otherwise")
    record = backup_record.parse(found)
    if record.phase is backup_record.Phase.FAILED:
        return _failed(
            "SafetyBackupFailed", f"safety backup {name} failed: {record.message or record.reason}"
        )
    if record.phase is not backup_record.Phase.SUCCEEDED:
        # Say where the safety backup stands (a Job that cannot start says why there).
        said = f": {record.message}" if record.message else ""
        return {"message": f"taking safety backup {name}: {record.phase}{said}"[:MESSAGE_MAX]}
    return _status(
        RestorePhase.SUSPENDING,
        "Suspending",
        f"safety backup {name} succeeded; scaling the club's workloads to zero",
    )


def _suspending(restore: RestoreObject, settings: OperatorSettings) -> dict[str, Any]:
    ctx = _club(restore, settings)
    if ctx is None:
        return _failed("ClubNotFound", f"Club {restore.club} is gone")
    if ctx.club.restore_hold != restore.name:  # once, not on every poll
        kube.annotate(*CLUB, restore.namespace, restore.club, {HOLD_ANNOTATION: restore.name})
    component = naming.COMPONENT_LABEL  # the API's and workers' pods, not a backup Job's
    selector = f"{naming.CLUB_LABEL}={restore.club},{component},{component}!={backup_job.COMPONENT}"
    pods = kube.list_objects("v1", "Pod", restore.namespace, selector)
    if pods:
        return _status(
            RestorePhase.SUSPENDING, "Suspending", f"waiting for {len(pods)} pods of the club to stop"
        )
    return _status(
        RestorePhase.RESTORING, "Restoring", f"replacing the club's rows with backup {restore.backup}"
    )


def _request(restore: RestoreObject, settings: OperatorSettings) -> backup_restore.Request | dict[str, Any]:
    """What the restore needs, or the status to report when it cannot be had."""
    ctx = _club(restore, settings)
    if ctx is None:
        return _failed("ClubNotFound", f"Club {restore.club} is gone")
    found = kube.read_custom(clubbackups.PLURAL, restore.namespace, restore.backup)
    wrong = backup_restore.problem(found, restore.backup, restore.club, need_verified=False)
    if wrong is not None or found is None:
        message = wrong.message if wrong else f"ClubBackup {restore.backup} is gone"
        return _status(RestorePhase.RESUMING, RESTORE_FAILED, message)
    record = backup_record.parse(found)
    tenant = str(ctx.club.tenant_id)
    try:
        return backup_restore.Request(
            database=club_servers.database_server(ctx.spec, restore.namespace, settings),
            database_name=ctx.names.database,
            storage=club_servers.storage_server(ctx.spec, restore.namespace, settings),
            where=backup_restore.locate(record, bucket=settings.backup_bucket, source_club=tenant),
            source_club=uuid.UUID(tenant),
            target_club=uuid.UUID(tenant),
            backup_id=backup_restore.backup_id(record),
        )
    except (club_servers.ServerNotConfigured, database.InvalidServer, kube.InvalidSecret) as exc:
        return _status(RestorePhase.RESTORING, "ServerNotConfigured", str(exc))


async def _restoring(restore: RestoreObject, settings: OperatorSettings) -> dict[str, Any]:
    request = await asyncio.to_thread(_request, restore, settings)
    if isinstance(request, dict):
        return request
    try:
        loaded = await backup_restore.run_async(request)
    except backup_restore.RestoreUnavailable as exc:
        return _status(RestorePhase.RESTORING, UNAVAILABLE, f"retrying in {RETRY_SEC:.0f}s: {exc}")
    except backup_restore.RestoreFailed as exc:
        return _status(RestorePhase.RESUMING, RESTORE_FAILED, f"the club's rows are unchanged: {exc}")
    rows = sum(loaded.rows.values())
    return _status(
        RestorePhase.RESUMING,
        "Restored",
        f"restored {rows} rows of {len(loaded.rows)} tables from backup {restore.backup} "
        f"in {loaded.seconds:.1f}s; resuming the club's workloads",
        rows=rows,
        seconds=round(loaded.seconds, 3),
        backupId=request.backup_id,
    )


def _resuming(restore: RestoreObject, current: Mapping[str, Any]) -> dict[str, Any]:
    found = kube.read_custom(naming.CLUB_PLURAL, restore.namespace, restore.club)
    held = ((found or {}).get("metadata") or {}).get("annotations") or {}
    if held.get(HOLD_ANNOTATION) == restore.name:
        kube.annotate(*CLUB, restore.namespace, restore.club, {HOLD_ANNOTATION: None})
    if current.get("reason") == RESTORE_FAILED:
        return _failed(RESTORE_FAILED, str(current.get("message") or "the restore failed"))
    return _status(
        RestorePhase.SUCCEEDED,
        "Succeeded",
        f"Club {restore.club} is back at backup {restore.backup}; safety backup "
        f"{current.get('safetyBackup')} holds the rows it had before",
        completionTime=_now(),
    )


def _failed(reason: str, message: str) -> dict[str, Any]:
    return _status(RestorePhase.FAILED, reason, message, completionTime=_now())


async def _step(
    restore: RestoreObject, current: Mapping[str, Any], settings: OperatorSettings
) -> dict[str, Any]:
    phase = current.get("phase") or RestorePhase.PENDING
    if phase == RestorePhase.PENDING:
        return await asyncio.to_thread(_pending, restore, settings)
    if phase == RestorePhase.SAFETY_BACKUP:
        return await asyncio.to_thread(_safety_backup, restore, current, settings)
    if phase == RestorePhase.SUSPENDING:
        return await asyncio.to_thread(_suspending, restore, settings)
    if phase == RestorePhase.RESTORING:
        return await _restoring(restore, settings)
    return await asyncio.to_thread(_resuming, restore, current)


def _report(restore: RestoreObject, current: dict[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The one writer of a ClubRestore's status: write what changed, an Event for a new phase."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    if not patch:
        return current
    kube.patch_status(PLURAL, restore.namespace, restore.name, patch)
    phase = desired.get("phase")
    if phase is not None and phase != current.get("phase"):
        message = str(desired.get("message") or "")
        kube.event(
            restore.reference,
            warning=phase == RestorePhase.FAILED,
            reason=f"Restore{phase}",
            message=message[:1000],
        )
        log.info("ClubRestore %s/%s is %s: %s", restore.namespace, restore.name, phase, message)
    return {**current, **patch}


async def follow(body: kopf.Body, stopped: kopf.DaemonStopped, settings: OperatorSettings) -> None:
    """The ClubRestore's daemon: from creation until it is Succeeded or Failed."""
    restore = RestoreObject.of(body)
    current: dict[str, Any] = dict(body.get("status") or {})
    last_error = ""
    while not stopped and not finished(current):
        try:
            desired = await _step(restore, current, settings)
            current = await asyncio.to_thread(_report, restore, current, desired)
            last_error = ""
        except kube.KubeError as exc:
            if str(exc) != last_error:  # once per distinct problem, not once a poll
                log.warning("ClubRestore %s/%s: %s; retrying", restore.namespace, restore.name, exc)
                last_error = str(exc)
        if not finished(current):
            unavailable = current.get("reason") == UNAVAILABLE
            await stopped.wait(RETRY_SEC if unavailable else POLL_SEC)
