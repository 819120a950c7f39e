"""What the operator does for ClubBackups, without the decorators (main.py has those).

Every backup of a club is one ClubBackup. Three things make them:
- a person (`kubectl apply` of a ClubBackup, trigger Manual): its daemon (`follow`) creates the Job
  (builders/backup_job.py), owned by the ClubBackup;
- the Club's `footballclub.io/backup-now` annotation: the Club's reconcile makes one ClubBackup
  named from the annotation's value, once (`ensure_requested`; status.lastBackupRequest remembers
  the value), and that one goes the same way;
- the Club's backup CronJob: for each Job it starts the operator makes a ClubBackup named after
  the Job (`scheduled_job_seen`, trigger Scheduled, owned by the Club) and marks the Job as seen
  (annotation `footballclub.io/clubbackup`), so a Job is never recorded twice, even after its
  ClubBackup was deleted by retention.

The daemon then mirrors the Job into the ClubBackup's status every POLL_SEC seconds until it is
Succeeded or Failed (clubbackup_status.py: rows, size and manifest come from the container's
termination message). A ClubBackup's status is written only through `report_status`.
Every phase change is an Event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from club_operator import clubbackup_status as cbs
from club_operator import credentials, kube, naming
from club_operator.backup_models import BackupPhase, BackupTrigger, ClubBackupSpec
from club_operator.builders import backup_job
from club_operator.builders.inputs import placement
from club_operator.club import ClubObject
from club_operator.config import OperatorSettings
from club_operator.models import ClubSpec

log = logging.getLogger(__name__)

PLURAL = "clubbackups"
KIND = "ClubBackup"
SEEN_ANNOTATION = f"{naming.GROUP}/clubbackup"
"""On a Job of the backup CronJob: the ClubBackup made for it."""
POLL_SEC = 2.0
JOB = ("batch/v1", "Job")
CRONJOB = ("batch/v1", "CronJob")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_status(namespace: str, name: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The one writer of a ClubBackup's status: merge `changes` into it (None removes a field).
    Returns the object as written, None when it no longer exists. Raises kube.KubeError."""
    return kube.patch_status(PLURAL, namespace, name, dict(changes))


def backup_inputs(
    names: naming.ClubNames,
    spec: ClubSpec,
    owner: credentials.Owner,
    tenant_id: str,
    settings: OperatorSettings,
) -> backup_job.BackupInputs:
    """The backup builders' inputs for a Club: its pods' image and placement."""
    selector, tolerations = placement(spec, settings.pod_node_selector, settings.pod_tolerations)
    return backup_job.BackupInputs(
        names=names,
        spec=spec,
        owner=owner,
        image=spec.runtime.image or settings.default_runtime_image,
        tenant_id=tenant_id,
        node_selector=selector,
        tolerations=tolerations,
    )


# --- the ClubBackups the operator makes ---------------------------------------------------------


def manifest(namespace: str, name: str, club: credentials.Owner, trigger: BackupTrigger) -> dict[str, Any]:
    """A ClubBackup owned by its Club (deleting the Club deletes the record, not the backup's objects)."""
    return {
        "apiVersion": f"{naming.GROUP}/{naming.VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {naming.CLUB_LABEL: club.name, backup_job.TRIGGER_LABEL: trigger.value.lower()},
            "ownerReferences": [club.reference() | {"controller": False}],
        },
        "spec": {"clubRef": {"name": club.name}, "trigger": trigger.value},
    }


def ensure_requested(club: ClubObject) -> str | None:
    """Make the ClubBackup the Club's backup-now annotation asks for, once per value. Returns the
    value when it is handled now (created, or found made already), None when there is nothing to do."""
    value = club.backup_request
    if not value or value == club.backup_request_handled:
        return None
    name = backup_job.requested_name(club.name, value)
    made = kube.create_custom(
        PLURAL, club.namespace, manifest(club.namespace, name, club.owner, BackupTrigger.ANNOTATION)
    )
    if not made:
        found = kube.read_custom(PLURAL, club.namespace, name)
        if found is not None and ((found.get("spec") or {}).get("clubRef") or {}).get("name") != club.name:
            # Another Club's backup has the name: never taken for this Club's request.
            name = backup_job.requested_name(club.name, value, taken=True)
            made = kube.create_custom(
                PLURAL, club.namespace, manifest(club.namespace, name, club.owner, BackupTrigger.ANNOTATION)
            )
    if made:
        log.info("made ClubBackup %s/%s for the backup-now annotation", club.namespace, name)
    return value


def scheduled_job_seen(body: Mapping[str, Any]) -> None:
    """A Job of a Club's backup CronJob: make its ClubBackup if it has none yet."""
    meta = body.get("metadata") or {}
    if SEEN_ANNOTATION in (meta.get("annotations") or {}):
        return
    namespace, name = meta["namespace"], meta["name"]
    club_name = (meta.get("labels") or {}).get(naming.CLUB_LABEL)
    club = kube.read_custom(naming.CLUB_PLURAL, namespace, club_name) if club_name else None
    if club is None:
        return  # the Club is gone: its CronJob goes with it
    owner = credentials.Owner(str(club.get("apiVersion")), "Club", str(club_name), club["metadata"]["uid"])
    made = kube.create_custom(PLURAL, namespace, manifest(namespace, name, owner, BackupTrigger.SCHEDULED))
    if made:
        log.info("made ClubBackup %s/%s for the scheduled Job", namespace, name)
    kube.annotate(*JOB, namespace, name, {SEEN_ANNOTATION: name})


# --- following one ClubBackup -------------------------------------------------------------------


@dataclass(frozen=True)
class BackupObject:
    namespace: str
    name: str
    uid: str
    spec: ClubBackupSpec

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> BackupObject:
        meta = body["metadata"]
        spec = ClubBackupSpec.model_validate(body.get("spec") or {})
        return cls(meta["namespace"], meta["name"], meta["uid"], spec)

    @property
    def job_name(self) -> str:
        # A scheduled backup's Job is the CronJob's, whose name the ClubBackup took.
        return self.name if self.spec.trigger is BackupTrigger.SCHEDULED else backup_job.job_name(self.name)


def desired_status(
    backup: BackupObject, current: Mapping[str, Any], settings: OperatorSettings
) -> dict[str, Any]:
    """One step: create the Job if it is due, and say what the status should be now."""
    job_name = backup.job_name
    job = kube.read_object(*JOB, backup.namespace, job_name)
    if job is None and not current.get("jobName") and backup.spec.trigger is not BackupTrigger.SCHEDULED:
        waiting = _start(backup, settings)
        if waiting is not None:
            return waiting
        job = kube.read_object(*JOB, backup.namespace, job_name)
    if job is not None:
        scheduled = backup.spec.trigger is BackupTrigger.SCHEDULED
        club_name = backup.spec.club_ref.name
        foreign = cbs.not_its_job(
            job, job_name, club=club_name, uid=backup.uid, scheduled=scheduled, now=_now()
        )
        if foreign is not None:
            return foreign
    if job is None and (current.get("jobName") or backup.spec.trigger is BackupTrigger.SCHEDULED):
        return cbs.failed(
            str(cbs.Reason.JOB_MISSING), f"Job {job_name} was deleted before it finished", _now()
        )
    pods = kube.list_objects("v1", "Pod", backup.namespace, f"job-name={job_name}") if job else []
    desired = cbs.from_job(job, pods, job_name, _now())
    if desired.get("phase") == BackupPhase.SUCCEEDED and "backupId" not in desired:
        desired["backupId"] = backup_job.backup_id(backup.name)
    return desired


def _start(backup: BackupObject, settings: OperatorSettings) -> dict[str, Any] | None:
    """Create the backup's Job; a status to report instead when its Club is not there or not ready."""
    club_name = backup.spec.club_ref.name
    club = kube.read_custom(naming.CLUB_PLURAL, backup.namespace, club_name)
    if club is None:
        return cbs.pending(cbs.Reason.CLUB_NOT_FOUND, f"Club {club_name} does not exist")
    try:
        spec = ClubSpec.model_validate(club.get("spec") or {})
    except ValueError:
        return cbs.pending(cbs.Reason.WAITING_FOR_CLUB, f"the spec of Club {club_name} cannot be used")
    meta, status = club["metadata"], club.get("status") or {}
    names = naming.build_names(
        backup.namespace,
        club_name,
        spec,
        settings.shared_database_name,
        provisioned_role=status.get("databaseRole"),
    )
    owner = credentials.Owner(str(club.get("apiVersion")), "Club", club_name, meta["uid"])
    inputs = backup_inputs(names, spec, owner, str(status.get("tenantId") or ""), settings)
    if not inputs.tenant_id:
        return cbs.pending(cbs.Reason.WAITING_FOR_CLUB, f"Club {club_name} has no tenant id yet")
    ref = backup_job.BackupRef(backup.name, backup.uid, backup.spec.trigger)
    if kube.apply_object(backup_job.build_job(inputs, ref)):
        log.info("created Job %s for ClubBackup %s/%s", backup.job_name, backup.namespace, backup.name)
    return None


def _report(
    body: kopf.Body, backup: BackupObject, current: dict[str, Any], desired: dict[str, Any]
) -> dict[str, Any]:
    """Write what changed, and return the status now; an Event for a phase change."""
    patch = cbs.changes(current, desired)
    if not patch:
        return current
    report_status(backup.namespace, backup.name, patch)
    phase = desired.get("phase")
    if phase != current.get("phase"):
        message = str(desired.get("message") or desired.get("reason") or "")
        warning = phase == BackupPhase.FAILED
        kube.event(body, warning=warning, reason=f"Backup{phase}", message=message[:1000])
        log.info("ClubBackup %s/%s is %s: %s", backup.namespace, backup.name, phase, message)
    return {k: v for k, v in {**current, **patch}.items() if v is not None}


async def follow(
    body: kopf.Body, stopped: kopf.DaemonStopped, settings: OperatorSettings
) -> dict[str, Any] | None:
    """The ClubBackup's daemon: from creation until it is Succeeded or Failed. Returns the
    ClubBackup as it is then (None when stopped first, or when it is gone)."""
    backup = BackupObject.of(body)
    current: dict[str, Any] = dict(body.get("status") or {})
    last_error = ""
    while not stopped and not cbs.finished(current):
        try:
            desired = await asyncio.to_thread(desired_status, backup, current, settings)
            current = await asyncio.to_thread(_report, body, backup, current, desired)
            last_error = ""
        except kube.Refused as exc:
            current = await asyncio.to_thread(
                _report, body, backup, current, cbs.failed("InvalidSpec", str(exc), _now())
            )
        except kube.KubeError as exc:
            if str(exc) != last_error:  # once per distinct problem, not once a poll
                log.warning("ClubBackup %s/%s: %s; retrying", backup.namespace, backup.name, exc)
                last_error = str(exc)
        if not cbs.finished(current):
            await stopped.wait(POLL_SEC)
    if stopped:
        return None
    return await asyncio.to_thread(kube.read_custom, PLURAL, backup.namespace, backup.name)
