"""The Club's status, built from a reconcile's Outcome: phase, conditions, observedGeneration and the
names of what was provisioned. Pure: the handler writes only the fields whose value changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from club_operator import conditions
from club_operator.conditions import Condition, Type
from club_operator.models import ClubPhase
from club_operator.outcome import Outcome


@dataclass(frozen=True)
class Transition:
    """A condition whose status changed: worth an Event."""

    type: str
    status: str
    reason: str
    message: str

    @property
    def warning(self) -> bool:
        return self.status != "True"


def _phase(current: str | None, ready: Condition, outcome: Outcome) -> ClubPhase:
    if ready.status:
        return ClubPhase.READY
    if outcome.permanent:
        return ClubPhase.FAILED
    if current in (ClubPhase.READY, ClubPhase.DEGRADED):
        return ClubPhase.DEGRADED
    return ClubPhase.PROVISIONING


def build_status(current: dict[str, Any], outcome: Outcome, generation: int, now: str) -> dict[str, Any]:
    """The whole desired status after this reconcile."""
    ready = conditions.ready(outcome.conditions)
    if outcome.permanent:
        ready = Condition(Type.READY, False, conditions.Reason.INVALID_SPEC, outcome.permanent)
    merged = conditions.merge(current.get("conditions") or [], [*outcome.conditions, ready], generation, now)
    return {
        **outcome.fields,
        "phase": str(_phase(current.get("phase"), ready, outcome)),
        "observedGeneration": generation,
        "conditions": merged,
    }


def changed_fields(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Only what differs: an empty result means the reconcile writes nothing to the Club."""
    return {k: v for k, v in desired.items() if current.get(k) != v}


def transitions(current: dict[str, Any], desired: dict[str, Any]) -> list[Transition]:
    before = {c["type"]: c.get("status") for c in current.get("conditions") or []}
    return [
        Transition(c["type"], c["status"], c["reason"], c["message"])
        for c in desired.get("conditions", [])
        if before.get(c["type"]) != c["status"]
    ]
