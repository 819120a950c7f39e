"""The pure parts of restores: which ClubBackup can be restored from, which ClubRestore of a Club
goes first, the safety backup's name, and which restore failures are worth retrying."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from club_operator import backup_restore, club_restores
from club_operator.builders import backup_job
from club_runtime.backup import manifest, restore, store


def _backup(name: str = "b-1", club: str = "fc", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"clubRef": {"name": club}},
        "status": status,
    }


def _restore(name: str, created: str, club: str = "fc", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": {"clubRef": {"name": club}, "backupRef": {"name": "b-1"}},
        "status": status,
    }


def test_a_succeeded_backup_of_the_club_can_be_restored_from() -> None:
    assert backup_restore.problem(_backup(phase="Succeeded"), "b-1", "fc", need_verified=False) is None
    verified = _backup(phase="Succeeded", verified=True)
    assert backup_restore.problem(verified, "b-1", "fc", need_verified=True) is None


@pytest.mark.parametrize(
    ("found", "need_verified", "permanent", "words"),
    [
        (None, False, False, "does not exist"),
        (_backup(phase="Running"), False, False, "not Succeeded yet"),
        (_backup(phase="Succeeded"), True, False, "not been verified yet"),
        (_backup(phase="Failed", message="S3 down"), False, True, "failed: S3 down"),
        (_backup(phase="Succeeded", verified=False, verifyMessage="checksum"), False, True, "verify failed"),
        (_backup(club="other", phase="Succeeded"), False, True, "of Club other, not of fc"),
    ],
)
def test_what_stops_a_restore_and_whether_it_is_worth_waiting(
    found: dict[str, Any] | None, need_verified: bool, permanent: bool, words: str
) -> None:
    problem = backup_restore.problem(found, "b-1", "fc", need_verified=need_verified)
    assert problem is not None
    assert problem.permanent is permanent
    assert words in problem.message


def test_a_backup_being_deleted_is_never_restored_from() -> None:
    found = _backup(phase="Succeeded", verified=True)
    found["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    problem = backup_restore.problem(found, "b-1", "fc", need_verified=False)
    assert problem is not None
    assert problem.permanent


def test_one_restore_of_a_club_at_a_time_the_oldest_first() -> None:
    restores = [
        _restore("late", "2026-01-01T00:00:09Z"),
        _restore("early", "2026-01-01T00:00:01Z"),
        _restore("other-club", "2026-01-01T00:00:00Z", club="other"),
    ]
    assert club_restores.first_in_line(restores, "fc") == "early"
    # Once it finished, the next one goes.
    restores[1]["status"] = {"phase": "Succeeded"}
    assert club_restores.first_in_line(restores, "fc") == "late"
    restores[0]["status"] = {"phase": "Failed"}
    assert club_restores.first_in_line(restores, "fc") is None
    # The same second: by name.
    same = [_restore("b", "2026-01-01T00:00:01Z"), _restore("a", "2026-01-01T00:00:01Z")]
    assert club_restores.first_in_line(same, "fc") == "a"


def test_the_safety_backup_name_is_fixed_and_a_valid_backup_id() -> None:
    assert club_restores.safety_name("roll-back") == "roll-back-safety"
    long = club_restores.safety_name("r" * 250)
    assert long == club_restores.safety_name("r" * 250)
    assert len(long) <= 63
    assert manifest.valid_backup_id(backup_job.backup_id(long)) == long


def test_finished_phases() -> None:
    assert club_restores.finished({"phase": "Succeeded"})
    assert club_restores.finished({"phase": "Failed"})
    assert not club_restores.finished({"phase": "Restoring"})
    assert not club_restores.finished({})


def test_a_server_that_cannot_be_reached_is_retried_a_bad_backup_is_not() -> None:
    down = restore.RestoreError("restoring failed: connection refused")
    down.__cause__ = psycopg.OperationalError("connection refused")
    assert backup_restore.could_not_run(down)
    s3_down = store.BackupStoreError("endpoint unreachable")
    assert backup_restore.could_not_run(s3_down)
    missing = restore.RestoreError("no complete backup")
    missing.__cause__ = store.BackupMissing("no such key")
    assert not backup_restore.could_not_run(missing)
    assert not backup_restore.could_not_run(restore.CorruptBackup("sha256 differs"))


RESTORE_UID = "7c0e0d4a-0000-4000-8000-00000000000r"


def _safety(club: str = "fc", trigger: str = "Safety", uid: str | None = RESTORE_UID) -> dict[str, Any]:
    found = _backup("r-1-safety", club, phase="Succeeded")
    found["spec"]["trigger"] = trigger
    if uid is not None:
        found["metadata"]["annotations"] = {club_restores.SAFETY_FOR_ANNOTATION: uid}
    return found


def test_the_safety_backup_taken_for_the_restore_is_its_safety_backup() -> None:
    assert club_restores.not_the_safety_backup(_safety(), "fc", RESTORE_UID) is None


def test_a_clubbackup_already_under_the_safety_name_is_no_safety_backup() -> None:
    """A ClubRestore named so that `<restore>-safety` is another Club's backup, or a backup this
    restore did not take (an earlier ClubRestore's of the same name, a person's): taken for the
    safety backup, the club's rows would be replaced with nothing holding the rows it had now."""
    other = club_restores.not_the_safety_backup(_safety(club="other"), "fc", RESTORE_UID)
    assert other is not None
    assert "r-1-safety" in other
    assert "Club other" in other
    manual = club_restores.not_the_safety_backup(_safety(trigger="Manual"), "fc", RESTORE_UID)
    assert manual is not None
    assert "Manual" in manual
    earlier = club_restores.not_the_safety_backup(_safety(uid="an-earlier-restore"), "fc", RESTORE_UID)
    assert earlier is not None
    assert "earlier" in earlier or "not taken for this" in earlier
    assert club_restores.not_the_safety_backup(_safety(uid=None), "fc", RESTORE_UID) is not None
