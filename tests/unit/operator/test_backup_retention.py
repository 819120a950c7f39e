"""Retention keeps exactly what the spec says: the N newest good backups (or those younger than D
days), never the newest good one, never a backup still running or awaiting verify; failed ones
never count as good and go once a newer good backup is kept."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from club_operator import backup_record, backup_retention
from club_operator.backup_record import BackupRecord
from club_operator.models import BackupRetention

NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)


def _backup(name: str, days_ago: float, phase: str = "Succeeded", **status: Any) -> BackupRecord:
    at = NOW - datetime.timedelta(days=days_ago)
    stamp = backup_record.format_time(at)
    body: dict[str, Any] = {"phase": phase, **status}
    if phase in ("Succeeded", "Failed"):
        body.setdefault("completionTime", stamp)
    return backup_record.parse(
        {
            "metadata": {"name": name, "creationTimestamp": stamp},
            "spec": {"clubRef": {"name": "fc"}},
            "status": body,
        }
    )


def _delete(
    backups: list[BackupRecord], *, count: int | None = None, days: int | None = None, verify: bool = False
) -> list[str]:
    return backup_retention.to_delete(
        backups, BackupRetention(count=count, days=days), verify=verify, now=NOW
    )


def test_count_keeps_the_newest_n_succeeded() -> None:
    backups = [_backup(f"b{i}", days_ago=10 - i) for i in range(6)]  # b5 is the newest
    assert _delete(backups, count=3) == ["b0", "b1", "b2"]


def test_a_backup_an_unfinished_restore_names_is_never_deleted() -> None:
    # A ClubRestore of b1 took its safety backup (b4): with count 3, b1 would be pushed out.
    backups = [_backup(f"b{i}", days_ago=10 - i) for i in range(5)]
    doomed = backup_retention.to_delete(
        backups, BackupRetention(count=3), verify=False, now=NOW, pinned=frozenset({"b1"})
    )
    assert doomed == ["b0"]


def test_fewer_backups_than_the_count_deletes_nothing() -> None:
    assert _delete([_backup("a", 2), _backup("b", 1)], count=3) == []


def test_the_order_is_by_completion_not_by_name() -> None:
    backups = [_backup("z-old", 3), _backup("a-new", 1), _backup("m-mid", 2)]
    assert _delete(backups, count=1) == ["z-old", "m-mid"]


def test_days_keeps_those_younger_than_the_window() -> None:
    backups = [_backup("old", 9), _backup("edge", 7), _backup("young", 6.9), _backup("new", 1)]
    assert _delete(backups, days=7) == ["old", "edge"]


def test_days_never_deletes_the_newest_good_one_however_old() -> None:
    backups = [_backup("older", 40), _backup("newest", 30)]
    assert _delete(backups, days=7) == ["older"]


def test_failed_backups_never_count_as_good() -> None:
    # Count 2: the two newest are failures, so the two newest good ones are kept, and the
    # failures newer than them are kept too (they say why the latest runs fail).
    backups = [
        _backup("good-1", 5),
        _backup("good-2", 4),
        _backup("good-3", 3),
        _backup("failed-1", 2, "Failed", reason="DatabaseUnavailable"),
        _backup("failed-2", 1, "Failed"),
    ]
    assert _delete(backups, count=2) == ["good-1"]


def test_a_failure_older_than_a_kept_good_backup_is_deleted() -> None:
    backups = [_backup("good-1", 5), _backup("failed", 4, "Failed"), _backup("good-2", 3)]
    assert _delete(backups, count=2) == ["failed"]


def test_failures_newer_than_every_good_one_are_kept_within_the_window() -> None:
    backups = [_backup("good", 10)] + [_backup(f"f{i}", 5 - i, "Failed") for i in range(5)]
    assert _delete(backups, count=2) == ["f0", "f1", "f2"]
    assert _delete(backups, days=3) == ["f0", "f1", "f2"]  # f2: exactly 3 days old


def test_only_failures_keeps_the_window_of_them() -> None:
    backups = [_backup(f"f{i}", 5 - i, "Failed") for i in range(4)]
    assert _delete(backups, count=1) == ["f0", "f1", "f2"]


def test_a_backup_failed_by_verify_is_not_good() -> None:
    backups = [
        _backup("good", 3, verified=True),
        _backup("corrupt", 2, verified=False, verifyMessage="sha256 differs"),
    ]
    # The corrupt one is the newest: it does not take the good one's place.
    assert _delete(backups, count=1, verify=True) == []
    later = [*backups, _backup("newer", 1, verified=True)]
    assert _delete(later, count=1, verify=True) == ["good", "corrupt"]


def test_verify_pending_protects_the_older_good_backups() -> None:
    # With verify on, the newest backup is not good until verify passed it: until then the one
    # before it is still the newest good one, and the pending one is never deleted.
    backups = [_backup("proven", 2, verified=True), _backup("pending", 1)]
    assert _delete(backups, count=1, verify=True) == []
    # Without verify, a Succeeded backup is good at once.
    assert _delete(backups, count=1, verify=False) == ["proven"]


def test_pending_and_running_backups_are_never_deleted() -> None:
    backups = [
        _backup("running", 30, "Running"),
        _backup("pending", 30, "Pending"),
        _backup("a", 3),
        _backup("b", 2),
    ]
    assert _delete(backups, count=1) == ["a"]


def test_backups_being_deleted_are_left_out() -> None:
    gone = backup_record.parse(
        {
            "metadata": {
                "name": "gone",
                "creationTimestamp": backup_record.format_time(NOW),
                "deletionTimestamp": backup_record.format_time(NOW),
            },
            "status": {"phase": "Succeeded", "completionTime": backup_record.format_time(NOW)},
        }
    )
    backups = [_backup("a", 2), _backup("b", 1), gone]
    # "gone" is not the newest good one any more: "b" is, and it is kept.
    assert _delete(backups, count=1) == ["a"]


@pytest.mark.parametrize("count", [1, 2, 7])
def test_a_run_of_scheduled_backups_always_keeps_exactly_count(count: int) -> None:
    kept: list[BackupRecord] = []
    for day in range(20):
        kept.append(_backup(f"daily-{day:02d}", days_ago=20 - day))
        doomed = set(_delete(kept, count=count))
        kept = [b for b in kept if b.name not in doomed]
        assert [b.name for b in kept] == [f"daily-{d:02d}" for d in range(max(0, day + 1 - count), day + 1)]
