"""A ClubBackup as retention and the Club's backup status read it: the few fields they use, parsed
once from the object (as the API server or kopf hands it). Pure: no I/O, no clock.

The object's status is written by the ClubBackup controller; a field it has not written yet (or one
that does not parse) reads as absent, so a half-written status never breaks a Club's reconcile."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Phase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class BackupRecord:
    name: str
    club: str  # spec.clubRef.name
    backup_id: str  # status.backupId as the Job reported it ("" before)
    phase: Phase
    created: datetime.datetime
    completed: datetime.datetime | None = None
    seconds: float | None = None
    compressed_bytes: int | None = None
    rows: int | None = None
    manifest: str | None = None  # s3://bucket/key
    reason: str = ""
    message: str = ""
    verified: bool | None = None  # None: not verified (yet)
    verify_message: str = ""
    restore_seconds: float | None = None
    verified_at: datetime.datetime | None = None
    deleting: bool = False

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)

    @property
    def at(self) -> datetime.datetime:
        """When the backup finished, else when it was asked for: the order backups are judged in."""
        return self.completed or self.created

    def good(self, *, verify: bool) -> bool:
        """Usable to restore from: Succeeded and not failed by verify. With verify on (the Club's
        spec.backup.verify), a backup counts as good only once verify has passed it."""
        if self.phase is not Phase.SUCCEEDED or self.verified is False:
            return False
        return self.verified is True or not verify


def newest_first(records: list[BackupRecord]) -> list[BackupRecord]:
    return sorted(records, key=lambda r: (r.at, r.name), reverse=True)


def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 time as Kubernetes writes it; None when absent or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def format_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _integer(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _phase(value: object) -> Phase:
    try:
        return Phase(str(value))
    except ValueError:
        return Phase.PENDING


def parse(obj: Mapping[str, Any]) -> BackupRecord:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    verified = status.get("verified")
    created = parse_time(meta.get("creationTimestamp")) or datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return BackupRecord(
        name=str(meta.get("name") or ""),
        club=str((spec.get("clubRef") or {}).get("name") or ""),
        backup_id=str(status.get("backupId") or ""),
        phase=_phase(status.get("phase")),
        created=created,
        completed=parse_time(status.get("completionTime")),
        seconds=_number(status.get("seconds")),
        compressed_bytes=_integer(status.get("compressedBytes")),
        rows=_integer(status.get("rows")),
        manifest=str(status["manifest"]) if status.get("manifest") else None,
        reason=str(status.get("reason") or ""),
        message=str(status.get("message") or ""),
        verified=verified if isinstance(verified, bool) else None,
        verify_message=str(status.get("verifyMessage") or ""),
        restore_seconds=_number(status.get("restoreSeconds")),
        verified_at=parse_time(status.get("verifiedTime")),
        deleting=bool(meta.get("deletionTimestamp")),
    )
