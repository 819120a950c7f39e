"""Retention: which of a club's ClubBackups to delete, from the backups, the Club's
`spec.backup.retention` and the time now. Pure: the caller deletes them (and a ClubBackup's
deletion removes its objects, see backup_objects.py).

The rule, backups ordered by when they finished (else when they were asked for), newest first:

1. A backup still Pending or Running is never deleted, and neither is a Succeeded one whose verify
   has not run yet while the Club verifies its backups: neither counts as good yet.
2. Good backups (Succeeded, and passed by verify when the Club verifies; when it does not, a
   Succeeded backup not failed by verify): with `count: N` the N newest are kept; with `days: D`
   those that finished less than D days ago. The newest good backup is always kept, however old.
3. A backup that is not good (Failed, or failed by verify) never counts towards N and never keeps
   an older one alive. It is kept only while it is newer than the newest good backup (it tells why
   the latest runs fail) and within the same window (among the N newest not-good ones, or younger
   than D days); once a newer backup is kept as good, it is deleted.

A ClubBackup already being deleted is left out: it is gone as far as retention is concerned.
A pinned one (named by an unfinished ClubRestore of the Club) is never deleted: the safety backup a
restore takes first adds one good backup, and with `count: N` would otherwise push out the very
backup the restore is about to load."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from club_operator.backup_record import BackupRecord, Phase, newest_first
from club_operator.models import BackupRetention


def to_delete(
    backups: Iterable[BackupRecord],
    retention: BackupRetention,
    *,
    verify: bool,
    now: datetime.datetime,
    pinned: frozenset[str] = frozenset(),
) -> list[str]:
    """The names of the ClubBackups to delete, oldest first; never one of `pinned`."""
    live = newest_first([b for b in backups if not b.deleting])
    good = [b for b in live if b.good(verify=verify)]
    bad = [b for b in live if b.finished and not b.good(verify=verify) and not _awaits_verify(b, verify)]
    doomed = [b for b in good[1:] if not _within(b, good, retention, now)]
    newest_good = good[0].at if good else None
    failing = [b for b in bad if newest_good is None or b.at > newest_good]
    doomed += [b for b in bad if b not in failing]
    doomed += [b for b in failing if not _within(b, failing, retention, now)]
    return [b.name for b in sorted(doomed, key=lambda b: (b.at, b.name)) if b.name not in pinned]


def _awaits_verify(backup: BackupRecord, verify: bool) -> bool:
    return verify and backup.verified is None and backup.phase is Phase.SUCCEEDED


def _within(
    backup: BackupRecord, ranked: list[BackupRecord], retention: BackupRetention, now: datetime.datetime
) -> bool:
    """Inside the retention window among `ranked` (newest first)."""
    if retention.days is not None:
        return now - backup.at < datetime.timedelta(days=retention.days)
    count = retention.count if retention.count is not None else 7
    return ranked.index(backup) < count
