"""A ClubBackup's status from its Job and pod: the phases, the report from the termination message,
and the reason a failure gives."""

from __future__ import annotations

import json
from typing import Any

from club_operator import clubbackup_status as cbs
from club_operator.builders import backup_job

NOW = "2026-12-02T05:00:00Z"
STARTED = "2026-12-02T04:59:00Z"
ENDED = "2026-12-02T04:59:30Z"


def _job(*conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b1"}, "status": {"conditions": list(conditions), **status}}


def _pod(state: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"name": "backup", "state": state}], **status}}


def _ended(report: dict[str, Any] | str, exit_code: int = 0, reason: str = "Completed") -> dict[str, Any]:
    message = report if isinstance(report, str) else json.dumps(report)
    return _pod(
        {"terminated": {"exitCode": exit_code, "reason": reason, "message": message, "finishedAt": ENDED}}
    )


REPORT = {
    "backupId": "b1",
    "clubId": "6f1c9a52-0000-4000-8000-000000000001",
    "manifest": "s3://club-backups/clubs/6f1c9a52-0000-4000-8000-000000000001/b1/manifest.json",
    "schemaRevision": "0007",
    "rows": 1234,
    "compressedBytes": 56789,
    "seconds": 1.25,
    "tables": {"players": 1000, "matches": 234},
}


def test_no_job_is_pending() -> None:
    assert cbs.from_job(None, [], "b1", NOW)["phase"] == "Pending"


def test_a_job_without_a_pod_yet_is_pending() -> None:
    status = cbs.from_job(_job(), [], "b1", NOW)
    assert (status["phase"], status["reason"], status["jobName"]) == ("Pending", "JobCreated", "b1")


def test_a_pod_that_cannot_start_says_why() -> None:
    waiting = {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "x-backup" not found'}}
    status = cbs.from_job(_job(active=1, startTime=STARTED), [_pod(waiting)], "b1", NOW)
    assert status["phase"] == "Pending"
    assert status["reason"] == "PodWaiting"
    assert status["message"] == 'CreateContainerConfigError: secret "x-backup" not found'


def test_a_started_job_is_running() -> None:
    status = cbs.from_job(_job(active=1, startTime=STARTED), [_pod({"running": {}})], "b1", NOW)
    assert (status["phase"], status["startTime"]) == ("Running", STARTED)


def test_a_complete_job_succeeds_with_its_report() -> None:
    job = _job({"type": "Complete", "status": "True"}, startTime=STARTED, completionTime=ENDED, succeeded=1)
    status = cbs.from_job(job, [_ended(REPORT)], "b1", NOW)
    assert status == {
        "jobName": "b1",
        "phase": "Succeeded",
        "reason": "BackupSucceeded",
        "message": "1234 rows backed up",
        "startTime": STARTED,
        "completionTime": ENDED,
        "backupId": "b1",
        "rows": 1234,
        "compressedBytes": 56789,
        "manifest": REPORT["manifest"],
        "schemaRevision": "0007",
        "seconds": 1.25,
    }


def test_a_failed_job_gives_the_error_its_container_reported() -> None:
    job = _job(
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": ENDED}
    )
    error = "cannot connect to PostgreSQL: connection refused"
    status = cbs.from_job(job, [_ended({"error": error}, exit_code=1, reason="Error")], "b1", NOW)
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "BackupFailed", error)
    assert status["completionTime"] == ENDED


def test_a_failed_job_without_a_report_gives_the_jobs_reason_and_how_the_container_ended() -> None:
    job = _job({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"})
    status = cbs.from_job(job, [_ended("", exit_code=137, reason="OOMKilled")], "b1", NOW)
    assert status["reason"] == "BackoffLimitExceeded"
    assert status["message"] == "limit; the container ended OOMKilled (exit code 137)"
    deadline = _job({"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"})
    assert cbs.from_job(deadline, [], "b1", NOW)["reason"] == "DeadlineExceeded"


def test_only_changed_fields_are_written() -> None:
    current = {"phase": "Running", "jobName": "b1", "startTime": STARTED}
    assert cbs.changes(current, dict(current)) == {}
    assert cbs.changes(current, {**current, "phase": "Succeeded"}) == {"phase": "Succeeded"}


def test_backup_now_values_name_valid_clubbackups() -> None:
    assert backup_job.requested_name("harbour", "before-upgrade") == "harbour-before-upgrade"
    odd = backup_job.requested_name("harbour", "2026-12-02T05:00:00Z")
    assert odd.startswith("harbour-2026-12-02t05-00-00z-")
    assert odd != backup_job.requested_name("harbour", "2026-12-02t05:00:00z")
    assert len(backup_job.requested_name("harbour", "x" * 300)) <= 63


# --- whose Job it is --------------------------------------------------------------------------

UID = "0b7f3c1e-0000-4000-8000-00000000000b"


def _owned_job(club: str, *owners: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "b1", "labels": {"footballclub.io/club": club}, "ownerReferences": list(owners)},
        "status": {},
    }


def _owner_status(job: dict[str, Any], club: str, *, scheduled: bool) -> dict[str, Any] | None:
    return cbs.not_its_job(job, "b1", club=club, uid=UID, scheduled=scheduled, now=NOW)


def test_a_job_made_for_the_clubbackup_is_its_own() -> None:
    job = _owned_job("alpha", {"kind": "ClubBackup", "name": "b1", "uid": UID})
    assert _owner_status(job, "alpha", scheduled=False) is None


def test_a_scheduled_job_of_the_clubs_cronjob_is_its_own() -> None:
    job = _owned_job("alpha", {"kind": "CronJob", "name": "alpha-backup", "uid": "c1", "controller": True})
    assert _owner_status(job, "alpha", scheduled=True) is None


def test_another_clubs_job_is_never_taken_for_this_clubs_backup() -> None:
    """A ClubBackup of Club beta named after a Job of alpha's backups (a scheduled one, or one whose
    ClubBackup retention deleted): mirroring it would give beta alpha's backup as a successful one of
    its own, and with it push beta's own backups out under retention."""
    scheduled = _owned_job(
        "alpha", {"kind": "CronJob", "name": "alpha-backup", "uid": "c1", "controller": True}
    )
    for as_scheduled in (True, False):
        status = _owner_status(scheduled, "beta", scheduled=as_scheduled)
        assert status is not None
        assert status["phase"] == "Failed"
        assert status["reason"] == "NotItsJob"
        assert "Job b1" in status["message"]
        assert "Club alpha" in status["message"]
    manual = _owned_job("alpha", {"kind": "ClubBackup", "name": "b1", "uid": "an-earlier-one"})
    status = _owner_status(manual, "beta", scheduled=False)
    assert status is not None
    assert status["phase"] == "Failed"


def test_a_job_no_cronjob_made_is_no_scheduled_backup() -> None:
    status = _owner_status(_owned_job("alpha"), "alpha", scheduled=True)
    assert status is not None
    assert status["phase"] == "Failed"


def test_the_job_of_an_earlier_clubbackup_of_the_same_name_is_waited_out() -> None:
    """Deleted, its Job goes with it (garbage collection): this ClubBackup's own Job comes after."""
    job = _owned_job("alpha", {"kind": "ClubBackup", "name": "b1", "uid": "an-earlier-one"})
    status = _owner_status(job, "alpha", scheduled=False)
    assert status is not None
    assert status["phase"] == "Pending"
    assert "jobName" not in status


def test_a_backup_now_name_another_clubs_backup_has_gives_one_of_this_clubs_own() -> None:
    """Club `a` asking for `b-x` and Club `a-b` asking for `x` name the same ClubBackup: the second
    to ask would find the first's backup and take its request as done, with no backup of its own."""
    taken = backup_job.requested_name("a", "b-x")
    assert taken == backup_job.requested_name("a-b", "x")
    own = backup_job.requested_name("a-b", "x", taken=True)
    assert own != taken
    assert own.startswith("a-b-x-")
    assert own == backup_job.requested_name("a-b", "x", taken=True)
    assert own != backup_job.requested_name("a", "b-x", taken=True)
    assert len(backup_job.requested_name("a" * 63, "x" * 300, taken=True)) <= 63
