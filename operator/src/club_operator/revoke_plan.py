"""The breach response's record and its steps: `footballclub.io/revoke=<reason>` replaces every
credential of a Club at once, with no overlap. Pure: no clock, no I/O (the caller passes `now`).

    Revoking   every credential was replaced and each old one is refused by the server that holds
               it (the JWT key set holds only a new key, the Redis user and the database login only
               a new password and their sessions are closed, the old S3 key is deleted, the owner's
               account refuses the old bootstrap password); the API and worker pods roll onto the
               new Secrets. Until every old pod is gone, an old API pod still honours tokens the
               old key signed.
    Revoked    every pod runs the new Secrets and is Ready: nothing accepts an old credential.
               `seconds` is the time from the request (when the annotation was set, as the API
               server recorded it) to that moment.

The record (status.revocation) names the request it answers, so each annotation value is acted on
once. The replacement itself runs in one reconcile; an operator that stops in the middle of it runs
it again from the start on restart (the request is not recorded yet): a breach response may issue a
credential twice, never leaves an old one working."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TIME = "%Y-%m-%dT%H:%M:%SZ"


class Phase(enum.StrEnum):
    REVOKING = "Revoking"
    REVOKED = "Revoked"


class Step(enum.Enum):
    NONE = "none"
    REPLACE = "replace"  # replace every credential now
    WAIT = "wait"  # replaced; the pods are rolling onto the new ones
    DONE = "done"  # every pod runs the new ones: record the time


@dataclass(frozen=True)
class Record:
    request: str
    phase: Phase
    requested: datetime
    replaced: datetime  # when the last credential was replaced
    credentials: tuple[str, ...] = ()  # the credentials replaced so far
    revoked: datetime | None = None

    def missing(self, every: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(name for name in every if name not in self.credentials)

    def complete(self, now: datetime) -> Record:
        return dataclasses.replace(self, phase=Phase.REVOKED, revoked=now)

    @property
    def seconds(self) -> float | None:
        return None if self.revoked is None else (self.revoked - self.requested).total_seconds()

    def to_status(self) -> dict[str, Any]:
        found = {
            "request": self.request,
            "phase": str(self.phase),
            "requestedTime": _format(self.requested),
            "replacedTime": _format(self.replaced),
            "credentials": list(self.credentials),
            "revokedTime": _format(self.revoked),
            "seconds": None if self.seconds is None else round(self.seconds),
        }
        return {k: v for k, v in found.items() if v is not None}


def from_status(value: Any) -> Record | None:
    if not isinstance(value, Mapping):
        return None
    try:
        requested, replaced = _parse(value["requestedTime"]), _parse(value["replacedTime"])
        if requested is None or replaced is None:
            return None
        return Record(
            request=str(value["request"]),
            phase=Phase(value["phase"]),
            requested=requested,
            replaced=replaced,
            credentials=tuple(str(c) for c in value.get("credentials") or ()),
            revoked=_parse(value.get("revokedTime")),
        )
    except (KeyError, ValueError, TypeError):
        return None


def step(annotation: str | None, record: Record | None, every: tuple[str, ...], *, propagated: bool) -> Step:
    """What this reconcile does. `every`: the credentials a revocation replaces; `propagated`: every
    pod runs the template this reconcile applied and is Ready."""
    if annotation and (record is None or record.request != annotation):
        return Step.REPLACE
    if record is None or record.phase == Phase.REVOKED:
        return Step.NONE
    if record.missing(every):
        return Step.REPLACE  # the rest of them: a server was unreachable
    return Step.DONE if propagated else Step.WAIT


def newest(*copies: Record | None) -> Record | None:
    """The latest of the copies of the record (the body's may lag behind what was written)."""
    found = [c for c in copies if c is not None]
    return (
        max(found, key=lambda r: (r.replaced, len(r.credentials), r.phase == Phase.REVOKED))
        if found
        else None
    )


def requested_at(metadata: Mapping[str, Any], annotation: str) -> datetime | None:
    """When the annotation got its value, as the API server recorded it: the time of the latest
    write (managedFields entry) that holds it. None when no entry names it."""
    path = f"f:{annotation}"
    times = [
        _parse_rfc3339(entry.get("time"))
        for entry in metadata.get("managedFields") or []
        if isinstance(entry, Mapping)
        and path in (((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {})
    ]
    found = [t for t in times if t is not None]
    return max(found) if found else None


def _parse_rfc3339(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _format(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(_TIME)


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value), _TIME).replace(tzinfo=UTC)
