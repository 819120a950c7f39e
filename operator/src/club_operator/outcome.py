"""What a reconcile works on and what it reports: the Club as read at the handler's edge, and the
Outcome (conditions, changes made, status fields, errors). Pure data, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from club_operator import credentials, naming
from club_operator.conditions import Condition, Reason, Type
from club_operator.config import OperatorSettings
from club_operator.models import ClubSpec


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

    @property
    def owner(self) -> credentials.Owner:
        return credentials.Owner(self.api_version, "Club", self.name, self.uid)

    @property
    def club_id(self) -> uuid.UUID:
        # The tenant id is the Club's uid: stable for the object's life, unique across the cluster.
        return uuid.UUID(self.uid)


@dataclass
class Outcome:
    conditions: list[Condition] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)  # (kind, what was written)
    fields: dict[str, Any] = field(default_factory=dict)
    temporary: list[str] = field(default_factory=list)
    permanent: str | None = None
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> data, as written or read
    rolling_out: bool = False  # only waiting for Deployments to become available: poll sooner

    def condition(self, type_: Type, ok: bool, reason: Reason, message: str) -> None:
        self.conditions.append(Condition(type_, ok, reason, message))

    def changed(self, kind: str, message: str) -> None:
        self.changes.append((kind, message))

    def failed(self, type_: Type, reason: Reason, message: str) -> None:
        self.condition(type_, False, reason, message)
        self.temporary.append(f"{type_}: {message}")


@dataclass(frozen=True)
class Context:
    """One reconcile's view of a Club: the object, its parsed spec, its names, the settings."""

    club: ClubObject
    spec: ClubSpec
    names: naming.ClubNames
    settings: OperatorSettings
