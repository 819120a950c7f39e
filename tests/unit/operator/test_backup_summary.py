"""A club's ClubBackups summed up for its status: the newest successful and verified backups, the
first recoverability point, and LastBackupSucceeded from the newest backup that finished."""

from __future__ import annotations

import datetime
from typing import Any

from club_operator import backup_record, backup_summary
from club_operator.backup_record import BackupRecord
from club_operator.conditions import Reason, Type

T = datetime.datetime(2026, 3, 10, 3, 0, tzinfo=datetime.UTC)


def _at(hours: float) -> str:
    return backup_record.format_time(T + datetime.timedelta(hours=hours))


def _backup(name: str, hours: float, phase: str = "Succeeded", **status: Any) -> BackupRecord:
    body: dict[str, Any] = {"phase": phase, **status}
    if phase in ("Succeeded", "Failed"):
        body.setdefault("completionTime", _at(hours))
    return backup_record.parse(
        {"metadata": {"name": name, "creationTimestamp": _at(hours - 0.1)}, "spec": {}, "status": body}
    )


def test_no_backup_reports_nothing() -> None:
    summary = backup_summary.summarise([], verify=True)
    assert summary.fields == {}
    assert summary.condition is None
    assert summary.last_success_timestamp is None


def test_a_running_first_backup_reports_no_condition_yet() -> None:
    summary = backup_summary.summarise([_backup("first", 0, "Running")], verify=True)
    assert summary.condition is None
    assert summary.fields == {}


def test_the_newest_successful_backup_and_the_oldest_kept() -> None:
    backups = [
        _backup("b1", 0, seconds=2.5, compressedBytes=100),
        _backup("b2", 24, seconds=3.5, compressedBytes=200, rows=42),
        _backup("b3", 48, "Running"),
    ]
    summary = backup_summary.summarise(backups, verify=False)
    assert summary.fields == {
        "lastSuccessfulBackup": "b2",
        "lastBackupTime": _at(24),
        "firstRecoverabilityPoint": _at(0),
    }
    assert summary.last_success_timestamp == (T + datetime.timedelta(hours=24)).timestamp()
    assert (summary.size_bytes, summary.duration_seconds) == (200, 3.5)
    assert summary.condition is not None
    assert summary.condition.type is Type.LAST_BACKUP_SUCCEEDED
    assert (summary.condition.status, summary.condition.reason) == (True, Reason.BACKUP_SUCCEEDED)


def test_verified_restore_is_the_newest_verified() -> None:
    backups = [
        _backup("b1", 0, verified=True, verifiedTime=_at(1), restoreSeconds=1.25),
        _backup("b2", 24, verified=True, verifiedTime=_at(25), restoreSeconds=2.0),
        _backup("b3", 48),
    ]
    summary = backup_summary.summarise(backups, verify=True)
    assert summary.fields["lastVerifiedRestore"] == {"backup": "b2", "time": _at(25), "seconds": 2.0}
    assert summary.last_verified_timestamp == (T + datetime.timedelta(hours=25)).timestamp()
    # The newest finished one awaits verify: successful, not proven yet.
    assert summary.fields["lastSuccessfulBackup"] == "b3"
    assert summary.condition is not None
    assert summary.condition.status is True
    assert "verify pending" in summary.condition.message


def test_verified_newest_backup_reads_verified() -> None:
    backups = [_backup("b1", 0, verified=True, verifiedTime=_at(1), restoreSeconds=1.25)]
    condition = backup_summary.summarise(backups, verify=True).condition
    assert condition is not None
    assert (condition.status, condition.reason) == (True, Reason.VERIFIED)
    assert "1.2s" in condition.message or "1.3s" in condition.message


def test_a_failed_newest_backup_is_false_with_its_reason_and_the_fallback() -> None:
    backups = [
        _backup("good", 0),
        _backup("bad", 24, "Failed", reason="DatabaseUnavailable", message="connection refused"),
    ]
    summary = backup_summary.summarise(backups, verify=False)
    assert summary.condition is not None
    assert (summary.condition.status, summary.condition.reason) == (False, Reason.BACKUP_FAILED)
    assert "DatabaseUnavailable: connection refused" in summary.condition.message
    assert "newest successful backup is good" in summary.condition.message
    # A failed backup never becomes the last successful one.
    assert summary.fields["lastSuccessfulBackup"] == "good"


def test_a_backup_failed_by_verify_is_false_and_never_successful() -> None:
    backups = [
        _backup("good", 0, verified=True, verifiedTime=_at(1), restoreSeconds=1.0),
        _backup("corrupt", 24, verified=False, verifyMessage="table players: sha256 differs"),
    ]
    summary = backup_summary.summarise(backups, verify=True)
    assert summary.condition is not None
    assert (summary.condition.status, summary.condition.reason) == (False, Reason.VERIFY_FAILED)
    assert "table players: sha256 differs" in summary.condition.message
    assert summary.fields["lastSuccessfulBackup"] == "good"
    assert summary.fields["lastVerifiedRestore"]["backup"] == "good"


def test_only_failures_say_so() -> None:
    summary = backup_summary.summarise([_backup("bad", 0, "Failed")], verify=True)
    assert summary.condition is not None
    assert "no successful backup is kept" in summary.condition.message
    assert "no reason given" in summary.condition.message
    assert summary.fields == {}


def test_a_status_field_that_does_not_parse_reads_as_absent() -> None:
    record = backup_record.parse(
        {
            "metadata": {"name": "odd", "creationTimestamp": "not a time"},
            "status": {"phase": "Weird", "seconds": "fast", "verified": "yes", "completionTime": 5},
        }
    )
    assert record.phase is backup_record.Phase.PENDING
    assert (record.seconds, record.verified, record.completed) == (None, None, None)
