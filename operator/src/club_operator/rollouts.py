"""A Club's Deployments rolling out.

A whole reconcile that found nothing left to do but wait for its Deployments reports RollingOut and
ends, naming the generation of each Deployment it waits for (Outcome.rolling_out). Each version of a
waiting Club's Deployment that the operator's watched copy takes in then settles the rollout from
that copy (handlers.deployment_changed), with no request to the API server: once every Deployment
has rolled out that generation, the same Outcome is reported with WorkloadsReady
True (status_writer.report). Pure: no kopf, no client."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome

AVAILABLE = "the API and both worker pools are available"


@dataclass(frozen=True)
class Rollout:
    """One Deployment's rollout: the generation it is at, and what it still waits for (None: rolled
    out and available)."""

    name: str
    generation: int
    waiting: str | None


def waiting_for(live: Mapping[str, Any] | None) -> str | None:
    """None when the Deployment is rolled out and available, else what it is waiting for."""
    if live is None:
        return "not created"
    spec, status = live.get("spec") or {}, live.get("status") or {}
    want = spec.get("replicas", 1)
    if (status.get("observedGeneration") or 0) < (live["metadata"].get("generation") or 0):
        return "rollout not observed yet"
    if (status.get("updatedReplicas") or 0) < want:
        return f"{status.get('updatedReplicas') or 0}/{want} pods updated"
    if (status.get("availableReplicas") or 0) < want:
        return f"{status.get('availableReplicas') or 0}/{want} pods available"
    return None


def rollout_of(live: Mapping[str, Any]) -> Rollout:
    meta = live["metadata"]
    return Rollout(str(meta["name"]), int(meta.get("generation") or 0), waiting_for(live))


def settle(previous: Outcome, found: Iterable[Rollout]) -> Outcome:
    """`previous` (a whole reconcile that waits only for its rollout) once `found` shows every awaited
    Deployment rolled out at the generation awaited, or later: WorkloadsReady True and nothing left
    to wait for. Otherwise `previous` itself."""
    latest: dict[str, Rollout] = {}
    for rollout in found:
        if rollout.name not in latest or rollout.generation > latest[rollout.name].generation:
            latest[rollout.name] = rollout
    for name, generation in previous.rolling_out.items():
        seen = latest.get(name)
        if seen is None or seen.generation < generation or seen.waiting is not None:
            return previous
    settled = dataclasses.replace(
        previous,
        conditions=[c for c in previous.conditions if c.type != Type.WORKLOADS_READY],
        rolling_out={},
    )
    settled.condition(Type.WORKLOADS_READY, True, Reason.AVAILABLE, AVAILABLE)
    return settled
