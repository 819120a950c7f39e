"""The per-club series the alert rules compare against (club_operator.monitoring), set after each
reconcile from the Club's spec and what the reconcile reported: whether the Club is suspended and
its backups scheduled, how long its backup schedule leaves between runs (cron.longest_interval), its
connection limit and storage quota, how its newest backup ended, where each credential's rotation
stands and when it is next due, and the problems the reconcile found.

Only what the outcome holds is set: a reconcile that stopped early (a suspended Club, a database
down) leaves the backup and rotation series as the last full reconcile set them. No I/O but the
gauges."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pydantic

from club_operator import cron, metrics, rotation, status
from club_operator.club import ClubObject
from club_operator.conditions import Reason, Type
from club_operator.models import ClubSpec
from club_operator.outcome import Outcome


def observe(club: ClubObject, outcome: Outcome) -> None:
    labels = (club.namespace, club.name)
    for problem in status.problems(outcome):
        metrics.CLUB_ERRORS.labels(*labels, str(problem.reason)).inc()
    try:
        spec = ClubSpec.model_validate(club.spec)
    except pydantic.ValidationError:
        return  # a spec the operator cannot use: ClubNotReady and ClubReconcileErrors say so
    metrics.CLUB_SUSPENDED.labels(*labels).set(1 if spec.suspend else 0)
    metrics.BACKUP_SCHEDULED.labels(*labels).set(0 if spec.suspend or spec.backup.suspend else 1)
    interval = cron.longest_interval(spec.backup.schedule)
    if interval is None:  # a schedule no CronJob runs: InvalidSpec says so
        with contextlib.suppress(KeyError):
            metrics.BACKUP_SCHEDULE_INTERVAL.remove(*labels)
    else:
        metrics.BACKUP_SCHEDULE_INTERVAL.labels(*labels).set(interval)
    metrics.DATABASE_CONNECTION_LIMIT.labels(*labels).set(spec.database.limits.connection_limit)
    if spec.storage.quota_bytes is None:
        for gauge in (metrics.STORAGE_QUOTA, metrics.STORAGE_USED):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)
    else:
        metrics.STORAGE_QUOTA.labels(*labels).set(spec.storage.quota_bytes)
    _backup(labels, outcome)
    records = outcome.fields.get("rotation")
    if isinstance(records, Mapping):
        _rotations(labels, records)


def _backup(labels: tuple[str, str], outcome: Outcome) -> None:
    found = [c for c in outcome.conditions if c.type == Type.LAST_BACKUP_SUCCEEDED]
    if not found:
        return
    newest = found[-1]
    failed = not newest.status and newest.reason == Reason.BACKUP_FAILED
    verify_failed = not newest.status and newest.reason == Reason.VERIFY_FAILED
    metrics.BACKUP_NEWEST_FAILED.labels(*labels).set(1 if failed else 0)
    metrics.BACKUP_NEWEST_VERIFY_FAILED.labels(*labels).set(1 if verify_failed else 0)


def _rotations(labels: tuple[str, str], records: Mapping[str, Any]) -> None:
    for credential, value in records.items():
        record = rotation.from_status(value)
        if record is None:
            continue
        metrics.SECRET_NEXT_ROTATION.labels(*labels, credential).set(record.next_rotation.timestamp())
        for phase in rotation.Phase:
            metrics.SECRET_ROTATION_PHASE.labels(*labels, credential, str(phase)).set(
                1 if record.phase == phase else 0
            )
