"""The Club a reconcile works on: the object as read once at the handler's edge (`ClubObject`), and
the Context a reconcile passes to its steps (that object, its parsed spec, its names, the
settings). Pure data, no I/O."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from club_operator import credentials, naming, revoke_plan
from club_operator.config import OperatorSettings
from club_operator.models import ClubSpec

BACKUP_NOW_ANNOTATION = f"{naming.GROUP}/backup-now"
"""Set on a Club (any new value), it asks for one backup now: a ClubBackup named from the value."""
ROTATE_ANNOTATION = f"{naming.GROUP}/rotate"
"""Set on a Club (any new value, the reason), it rotates the Club's JWT signing key now, with the
normal overlap; each value once (status.lastRotateRequest)."""
REVOKE_ANNOTATION = f"{naming.GROUP}/revoke"
"""Set on a Club (any new value, the reason), it replaces every credential of the Club at once with
no overlap: the breach response (revoke.py); each value once (status.revocation.request)."""
RESTORE_ANNOTATION = f"restore.{naming.GROUP}/clubrestore"
"""Set on a Club by the operator while a ClubRestore replaces its rows: the ClubRestore's name. The
Club's workloads are scaled to zero while that ClubRestore exists unfinished (club_restores.py).
Not under `footballclub.io/`: kopf keeps its own records there and leaves changes of annotations
with that prefix out of its diffs, so setting or removing this one would wait for the resync."""


@dataclass(frozen=True)
class ClubObject:
    """What a reconcile needs of the Club, read once from the object at the handler's edge."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    api_version: str = f"{naming.GROUP}/{naming.VERSION}"
    provisioned_role: str | None = None  # status.databaseRole: keeps names derived by an older rule
    # The club_id of the Club's rows and object keys, as status last reported it: the uid, or that of
    # an earlier Club whose data this one adopted. The role's ownership record decides it when the
    # database is reachable; this keeps the runtime's CLUB_ID steady when it is not.
    tenant_id: str | None = None
    # The footballclub.io/backup-now annotation's value, and the last value a ClubBackup was made
    # for (status.lastBackupRequest): a value is acted on once.
    backup_request: str | None = None
    backup_request_handled: str | None = None
    # The footballclub.io/rotate annotation's value, the last value acted on, and status.rotation
    # (rotation.py: one record per credential).
    rotate_request: str | None = None
    rotate_request_handled: str | None = None
    rotation: Mapping[str, Any] | None = None
    # The footballclub.io/revoke annotation's value, when the API server recorded it set, and
    # status.revocation (revoke_plan.py).
    revoke_request: str | None = None
    revoke_requested: datetime.datetime | None = None
    revocation: Mapping[str, Any] | None = None
    # The ClubRestore the restore annotation names, and status.bootstrap (spec.bootstrap done).
    restore_hold: str | None = None
    bootstrapped: dict[str, Any] | None = None

    @property
    def owner(self) -> credentials.Owner:
        return credentials.Owner(self.api_version, "Club", self.name, self.uid)

    @property
    def club_id(self) -> uuid.UUID:
        # The tenant id is the Club's uid: stable for the object's life, unique across the cluster.
        return uuid.UUID(self.uid)

    @property
    def reference(self) -> dict[str, Any]:
        """The Club as an Event's involved object."""
        return {
            "apiVersion": self.api_version,
            "kind": "Club",
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
        }


def from_body(body: Mapping[str, Any]) -> ClubObject:
    """The Club as kopf hands it to a handler."""
    meta = body["metadata"]
    status = body.get("status") or {}
    return ClubObject(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        generation=int(meta.get("generation") or 1),
        spec=dict(body.get("spec") or {}),
        api_version=body.get("apiVersion", f"{naming.GROUP}/{naming.VERSION}"),
        provisioned_role=status.get("databaseRole"),
        tenant_id=status.get("tenantId"),
        backup_request=(meta.get("annotations") or {}).get(BACKUP_NOW_ANNOTATION),
        backup_request_handled=status.get("lastBackupRequest"),
        rotate_request=(meta.get("annotations") or {}).get(ROTATE_ANNOTATION),
        rotate_request_handled=status.get("lastRotateRequest"),
        rotation=status.get("rotation"),
        revoke_request=(meta.get("annotations") or {}).get(REVOKE_ANNOTATION),
        revoke_requested=revoke_plan.requested_at(meta, REVOKE_ANNOTATION),
        revocation=status.get("revocation"),
        restore_hold=(meta.get("annotations") or {}).get(RESTORE_ANNOTATION),
        bootstrapped=status.get("bootstrap") or None,
    )


@dataclass(frozen=True)
class Context:
    """One reconcile's view of a Club: the object, its parsed spec, its names, the settings."""

    club: ClubObject
    spec: ClubSpec
    names: naming.ClubNames
    settings: OperatorSettings
