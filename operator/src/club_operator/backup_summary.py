"""A club's backups summed up for its status and metrics, from its ClubBackups. Pure: the Club's
reconcile puts `fields` and `condition` into its Outcome (the one writer of a Club's status) and
sets the gauges from the figures.

- `lastSuccessfulBackup`, `lastBackupTime`: the newest successful backup (Succeeded and not failed
  by verify; one whose verify is still to run counts) and when it finished;
- `lastVerifiedRestore`: the newest backup verify restored, when, and how long the restore took;
- `firstRecoverabilityPoint`: when the oldest successful backup still kept finished: the earliest
  state the club can be rolled back to;
- condition `LastBackupSucceeded`, from the newest backup that finished: True when it succeeded
  (reason Verified once verify passed it), False when it failed (BackupFailed) or verify failed it
  (VerifyFailed). No condition before the first backup finishes.

A ClubBackup being deleted is left out, as if gone already."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from club_operator.backup_record import BackupRecord, Phase, format_time, newest_first
from club_operator.conditions import Condition, Reason, Type


@dataclass(frozen=True)
class BackupSummary:
    fields: dict[str, Any] = field(default_factory=dict)
    condition: Condition | None = None
    # The metrics' values (None: no such backup, no series).
    last_success_timestamp: float | None = None
    last_verified_timestamp: float | None = None
    size_bytes: int | None = None
    duration_seconds: float | None = None


def summarise(backups: Iterable[BackupRecord], *, verify: bool) -> BackupSummary:
    live = newest_first([b for b in backups if not b.deleting])
    successful = [b for b in live if b.good(verify=False)]
    verified = sorted(
        (b for b in live if b.verified is True and b.verified_at is not None),
        key=lambda b: (b.verified_at, b.name),
        reverse=True,
    )
    fields: dict[str, Any] = {}
    latest = successful[0] if successful else None
    if latest is not None and latest.completed is not None:
        fields["lastSuccessfulBackup"] = latest.name
        fields["lastBackupTime"] = format_time(latest.completed)
        oldest = next(b for b in reversed(successful) if b.completed is not None)
        fields["firstRecoverabilityPoint"] = format_time(oldest.at)
    proven = verified[0] if verified else None
    if proven is not None and proven.verified_at is not None:
        fields["lastVerifiedRestore"] = {
            "backup": proven.name,
            "time": format_time(proven.verified_at),
            "seconds": round(proven.restore_seconds or 0.0, 3),
        }
    finished = next((b for b in live if b.finished), None)
    return BackupSummary(
        fields=fields,
        condition=None if finished is None else _condition(finished, latest, verify=verify),
        last_success_timestamp=None
        if latest is None or latest.completed is None
        else latest.completed.timestamp(),
        last_verified_timestamp=None
        if proven is None or proven.verified_at is None
        else proven.verified_at.timestamp(),
        size_bytes=None if latest is None else latest.compressed_bytes,
        duration_seconds=None if latest is None else latest.seconds,
    )


def _condition(newest: BackupRecord, good: BackupRecord | None, *, verify: bool) -> Condition:
    when = format_time(newest.at)
    fallback = (
        f"; the newest successful backup is {good.name} ({format_time(good.at)})"
        if good is not None
        else "; no successful backup is kept"
    )
    if newest.phase is Phase.FAILED:
        why = ": ".join(p for p in (newest.reason, newest.message) if p) or "no reason given"
        return Condition(
            Type.LAST_BACKUP_SUCCEEDED,
            False,
            Reason.BACKUP_FAILED,
            f"ClubBackup {newest.name} failed at {when}: {why}{fallback}",
        )
    if newest.verified is False:
        return Condition(
            Type.LAST_BACKUP_SUCCEEDED,
            False,
            Reason.VERIFY_FAILED,
            f"ClubBackup {newest.name} (finished {when}) failed verify: "
            f"{newest.verify_message or 'no reason given'}{fallback}",
        )
    if newest.verified is True:
        seconds = f" in {newest.restore_seconds:.1f}s" if newest.restore_seconds is not None else ""
        return Condition(
            Type.LAST_BACKUP_SUCCEEDED,
            True,
            Reason.VERIFIED,
            f"ClubBackup {newest.name} finished at {when}; verify restored it{seconds}",
        )
    pending = "; verify pending" if verify else ""
    return Condition(
        Type.LAST_BACKUP_SUCCEEDED,
        True,
        Reason.BACKUP_SUCCEEDED,
        f"ClubBackup {newest.name} finished at {when}{pending}",
    )
