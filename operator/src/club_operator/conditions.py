"""Status conditions of a Club: their types, the named reasons, and pure functions to set them.

A condition's lastTransitionTime changes only when its status does, so re-stating a condition
that already holds leaves the status untouched (and the reconcile writes nothing)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class Type(enum.StrEnum):
    READY = "Ready"
    DATABASE_READY = "DatabaseReady"
    TENANT_ISOLATION_VERIFIED = "TenantIsolationVerified"
    STORAGE_READY = "StorageReady"
    SECRETS_READY = "SecretsReady"
    WORKLOADS_READY = "WorkloadsReady"
    LAST_BACKUP_SUCCEEDED = "LastBackupSucceeded"  # not part of Ready: a failed backup stops nothing
    SECRETS_ROTATED = "SecretsRotated"  # not part of Ready: where the last rotation stands (rotation.py)
    # Only with spec.bootstrap; not part of Ready: until it is True the workloads wait (WorkloadsReady).
    BOOTSTRAPPED = "Bootstrapped"


class Reason(enum.StrEnum):
    PROVISIONED = "Provisioned"
    SERVER_UNAVAILABLE = "ServerUnavailable"
    SERVER_SECRET_MISSING = "ServerSecretMissing"  # noqa: S105 - a reason, not a secret
    INVALID_SPEC = "InvalidSpec"
    MIGRATION_FAILED = "MigrationFailed"
    PROBE_PASSED = "ProbePassed"
    PROBE_FAILED = "IsolationBreached"
    PROBE_SKIPPED = "DatabaseNotReady"
    GENERATED = "Generated"
    DEPENDENCIES_NOT_READY = "DependenciesNotReady"
    ALL_READY = "AllReady"
    SUSPENDED = "Suspended"
    ROLLING_OUT = "RollingOut"
    AVAILABLE = "Available"
    DELETING = "Deleting"
    CLEANUP_ABANDONED = "CleanupAbandoned"
    RETAINED = "Retained"  # deletionPolicy Retain kept the Club's data
    # A resource the Club would use belongs to another Club (or to none): it is left untouched.
    CONFLICT = "Conflict"
    # LastBackupSucceeded, from the newest ClubBackup that finished (backup_summary.py).
    BACKUP_SUCCEEDED = "BackupSucceeded"
    VERIFIED = "Verified"
    BACKUP_FAILED = "BackupFailed"
    VERIFY_FAILED = "VerifyFailed"
    # SecretsRotated (True throughout): the phase of the last rotation.
    ROTATION_ISSUED = "Issued"
    ROTATION_PROPAGATED = "Propagated"
    ROTATION_REVOKED = "Revoked"
    # Bootstrapped (spec.bootstrap.fromBackup, club_bootstrap.py), and WorkloadsReady while it waits.
    RESTORED = "Restored"
    BACKUP_NOT_READY = "BackupNotReady"
    WAITING_FOR_BOOTSTRAP = "WaitingForBootstrap"


# The conditions that must all be True for Ready, in the order they are reported.
READY_REQUIRES = (
    Type.SECRETS_READY,
    Type.DATABASE_READY,
    Type.TENANT_ISOLATION_VERIFIED,
    Type.STORAGE_READY,
    Type.WORKLOADS_READY,
)


@dataclass(frozen=True)
class Condition:
    type: Type
    status: bool
    reason: Reason
    message: str

    def to_k8s(self, generation: int, now: str) -> dict[str, Any]:
        return {
            "type": str(self.type),
            "status": "True" if self.status else "False",
            "reason": str(self.reason),
            "message": self.message,
            "observedGeneration": generation,
            "lastTransitionTime": now,
        }


def merge(
    current: Sequence[dict[str, Any]], updates: Iterable[Condition], generation: int, now: str
) -> list[dict[str, Any]]:
    """The conditions after applying `updates`, keeping lastTransitionTime where status is unchanged
    and the order of existing conditions stable."""
    merged = {c["type"]: dict(c) for c in current}
    for update in updates:
        new = update.to_k8s(generation, now)
        old = merged.get(new["type"])
        if old is not None and old.get("status") == new["status"]:
            new["lastTransitionTime"] = old.get("lastTransitionTime", now)
        merged[new["type"]] = new
    order = [c["type"] for c in current] + [t for t in merged if t not in {c["type"] for c in current}]
    return [merged[t] for t in order]


def ready(updates: Sequence[Condition]) -> Condition:
    """Ready summarises the others: True when each required condition is True."""
    by_type = {c.type: c for c in updates}
    failing = [t for t in READY_REQUIRES if t not in by_type or not by_type[t].status]
    if not failing:
        return Condition(
            Type.READY, True, Reason.ALL_READY, "the club's tenant, storage and secrets are ready"
        )
    first = by_type.get(failing[0])
    detail = f": {first.message}" if first else ""
    names = ", ".join(str(t) for t in failing)
    return Condition(Type.READY, False, Reason.DEPENDENCIES_NOT_READY, f"not ready: {names}{detail}")


def find(conditions: Sequence[dict[str, Any]], type_: Type) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)
