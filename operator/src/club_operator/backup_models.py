"""Typed views of the `ClubBackup` and `ClubRestore` specs (see models.py for how specs are parsed).
No I/O."""

from __future__ import annotations

import enum

from club_operator.models import ClubRef, SpecModel

# --- ClubBackup ------------------------------------------------------------------------------


class BackupPhase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (BackupPhase.SUCCEEDED, BackupPhase.FAILED)


class BackupTrigger(enum.StrEnum):
    MANUAL = "Manual"
    SCHEDULED = "Scheduled"
    ANNOTATION = "Annotation"
    SAFETY = "Safety"


class ClubBackupSpec(SpecModel):
    """The spec of a ClubBackup, as `kubectl explain clubbackup.spec` describes it."""

    club_ref: ClubRef
    trigger: BackupTrigger = BackupTrigger.MANUAL


# --- ClubRestore -----------------------------------------------------------------------------


class RestorePhase(enum.StrEnum):
    PENDING = "Pending"
    SAFETY_BACKUP = "SafetyBackup"
    SUSPENDING = "Suspending"
    RESTORING = "Restoring"
    RESUMING = "Resuming"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (RestorePhase.SUCCEEDED, RestorePhase.FAILED)


class BackupRef(SpecModel):
    name: str


class ClubRestoreSpec(SpecModel):
    """The spec of a ClubRestore, as `kubectl explain clubrestore.spec` describes it."""

    club_ref: ClubRef
    backup_ref: BackupRef
