"""A ClubBackup's status from its Job and the Job's pod, as the API server returns them. Pure.

- No Job yet, or a Job whose pod has not started: Pending (a pod that cannot start says why:
  an image that cannot be pulled, a Secret that does not exist).
- The Job has started: Running, with startTime.
- The Job is Complete: Succeeded, with what the container reported in its termination message
  (`club-runtime backup --report-file /dev/termination-log`): backupId, rows, compressedBytes,
  manifest, schemaRevision, seconds.
- The Job Failed: Failed with reason BackupFailed and the report's `error` when the container
  wrote one (PostgreSQL or S3 unreachable, ...), else the Job's own reason (DeadlineExceeded,
  BackoffLimitExceeded) and how the container ended (OOMKilled, exit code)."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

from club_operator.backup_models import BackupPhase
from club_operator.builders.backup_job import CONTAINER
from club_operator.naming import CLUB_LABEL

MESSAGE_MAX = 2000
REPORTED = ("backupId", "rows", "compressedBytes", "manifest", "schemaRevision", "seconds")


class Reason(enum.StrEnum):
    CLUB_NOT_FOUND = "ClubNotFound"
    WAITING_FOR_CLUB = "WaitingForClub"
    JOB_CREATED = "JobCreated"
    POD_WAITING = "PodWaiting"
    RUNNING = "Running"
    SUCCEEDED = "BackupSucceeded"
    FAILED = "BackupFailed"
    JOB_MISSING = "JobMissing"
    NOT_ITS_JOB = "NotItsJob"
    EARLIER_JOB = "WaitingForEarlierJob"


def pending(reason: Reason, message: str) -> dict[str, Any]:
    return {"phase": str(BackupPhase.PENDING), "reason": str(reason), "message": message[:MESSAGE_MAX]}


def failed(reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "phase": str(BackupPhase.FAILED),
        "reason": reason,
        "message": message[:MESSAGE_MAX],
        "completionTime": now,
    }


def not_its_job(
    job: Mapping[str, Any], job_name: str, *, club: str, uid: str, scheduled: bool, now: str
) -> dict[str, Any] | None:
    """None when the Job found under the ClubBackup's Job name is the backup's own: a Job of its
    Club's backups (the club label) made for this ClubBackup (owned by its uid) or, for a scheduled
    one, by the CronJob. Else the status to report: another Club's Job (or one no CronJob made, for
    a scheduled backup) fails the ClubBackup, never mirrored as its backup; the Job of an earlier
    ClubBackup of this name, of the same Club, is waited out (garbage collection removes it)."""
    meta = job.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(CLUB_LABEL)
    owners = meta.get("ownerReferences") or []
    if owner != club:
        whose = f"Club {owner}" if owner else "no Club"
        return failed(
            str(Reason.NOT_ITS_JOB),
            f"Job {job_name} is a Job of {whose}, not a backup of Club {club}: the ClubBackup needs a "
            "name no other Job has",
            now,
        )
    if scheduled:
        if any(o.get("kind") == "CronJob" and o.get("controller") for o in owners):
            return None
        return failed(
            str(Reason.NOT_ITS_JOB),
            f"Job {job_name} was not started by Club {club}'s backup CronJob: a scheduled ClubBackup is "
            "made by the operator for each Job of the CronJob",
            now,
        )
    if any(o.get("uid") == uid for o in owners):
        return None
    if any(o.get("kind") == "ClubBackup" for o in owners):
        return pending(
            Reason.EARLIER_JOB, f"waiting for Job {job_name} of an earlier ClubBackup of this name to go"
        )
    return failed(
        str(Reason.NOT_ITS_JOB),
        f"Job {job_name} was not made for this ClubBackup: the ClubBackup needs a name no other Job has",
        now,
    )


def _condition(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def _terminated(pods: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The backup container's terminated state, from the newest pod that has one."""
    found: list[Mapping[str, Any]] = []
    for item in pods:
        for status in (item.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == CONTAINER:
                done = (status.get("state") or {}).get("terminated")
                if done:
                    found.append(done)
    return max(found, key=lambda d: str(d.get("finishedAt") or ""), default=None)


def _waiting(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """Why the backup container has not started, when the kubelet says (ErrImagePull, ...)."""
    for item in pods:
        for status in (item.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
                return f"{waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(": ")
        for cond in (item.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return f"{cond.get('reason')}: {cond.get('message') or ''}".rstrip(": ")
    return None


def report_of(terminated: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The container's JSON report, or None when it wrote none (or not JSON)."""
    text = (terminated or {}).get("message")
    if not text:
        return None
    try:
        report = json.loads(text)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _failure(
    fail: Mapping[str, Any], terminated: Mapping[str, Any] | None, report: dict[str, Any] | None, now: str
) -> dict[str, Any]:
    """Failed: the container's reported error, else the Job's reason and how the container ended."""
    when = str(fail.get("lastTransitionTime") or now)
    if report and report.get("error"):
        return failed(str(Reason.FAILED), str(report["error"]), when)
    ended = ""
    if terminated:
        how = terminated.get("reason") or "with an error"
        ended = f"; the container ended {how} (exit code {terminated.get('exitCode')})"
    message = f"{fail.get('message') or 'the Job failed'}{ended}"
    return failed(str(fail.get("reason") or Reason.FAILED), message, when)


def from_job(
    job: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]], job_name: str, now: str
) -> dict[str, Any]:
    """The status the ClubBackup should have, given its Job (None: gone or not made) and pods."""
    pods = list(pods)
    if job is None:
        return pending(Reason.JOB_MISSING, f"Job {job_name} does not exist")
    status = job.get("status") or {}
    base: dict[str, Any] = {"jobName": job_name}
    if status.get("startTime"):
        base["startTime"] = status["startTime"]
    terminated = _terminated(pods)
    report = report_of(terminated)
    complete = _condition(job, "Complete")
    if complete is not None:
        done = {
            "phase": str(BackupPhase.SUCCEEDED),
            "reason": str(Reason.SUCCEEDED),
            "message": f"{(report or {}).get('rows', '?')} rows backed up",
            "completionTime": status.get("completionTime") or complete.get("lastTransitionTime") or now,
        }
        return {**base, **done, **{k: report[k] for k in REPORTED if report and k in report}}
    fail = _condition(job, "Failed")
    if fail is not None:
        return {**base, **_failure(fail, terminated, report, now)}
    if status.get("active") or status.get("ready"):
        waiting = _waiting(pods)
        if waiting is not None:
            return {**base, **pending(Reason.POD_WAITING, waiting)}
        return {**base, "phase": str(BackupPhase.RUNNING), "reason": str(Reason.RUNNING), "message": ""}
    return {
        **base,
        **pending(Reason.JOB_CREATED, _waiting(pods) or f"Job {job_name} has not started a pod yet"),
    }


def changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields whose value differs: an empty result means nothing to write."""
    return {k: v for k, v in desired.items() if current.get(k) != v}


def finished(status: Mapping[str, Any]) -> bool:
    return status.get("phase") in (BackupPhase.SUCCEEDED, BackupPhase.FAILED)
