"""The Club's status, built from a reconcile's Outcome: phase, conditions, observedGeneration and the
names of what was provisioned. Pure: the handler writes only the fields whose value changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from club_operator import conditions
from club_operator.conditions import Condition, Type
from club_operator.models import ClubPhase
from club_operator.outcome import Outcome

# A condition False for one of these reasons is the expected way there, not a problem: its Event is
# Normal (every new Club rolls out; a Warning should mean that something needs a person).
EXPECTED_FALSE = frozenset({str(conditions.Reason.ROLLING_OUT), str(conditions.Reason.SUSPENDED)})
# Not counted as errors either: a probe that waits for the database (the database's own condition
# carries the problem).
_CONSEQUENCES = frozenset({str(conditions.Reason.PROBE_SKIPPED)})


@dataclass(frozen=True)
class Transition:
    """A condition whose status changed: worth an Event, a Warning when it went False for a problem."""

    type: str
    status: str
    reason: str
    message: str
    warning: bool


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
    found = desired.get("conditions", [])
    return [
        Transition(c["type"], c["status"], c["reason"], c["message"], _problem(c, found))
        for c in found
        if before.get(c["type"]) != c["status"]
    ]


def problems(outcome: Outcome) -> list[Condition]:
    """The conditions a reconcile found False for a real problem (the errors metric counts these):
    not a rollout in progress, a suspension, or a step that only waits for another's problem."""
    return [
        c for c in outcome.conditions if not c.status and str(c.reason) not in EXPECTED_FALSE | _CONSEQUENCES
    ]


def _problem(cond: dict[str, Any], every: list[dict[str, Any]]) -> bool:
    """False is a problem unless expected; Ready is False for a problem only when one of the others is."""
    if cond["status"] == "True":
        return False
    if cond["type"] == Type.READY and cond["reason"] == conditions.Reason.DEPENDENCIES_NOT_READY:
        return any(_problem(c, every) for c in every if c["type"] != Type.READY)
    return cond["reason"] not in EXPECTED_FALSE
