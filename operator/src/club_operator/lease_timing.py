"""The decisions of leader election (leader.py), apart from its API calls: when a replica may take
the operator's Lease, and when the one holding it must give up.

As in client-go's leader election, a replica never compares the renewTime written in the Lease with
its own wall clock (the replicas' clocks may disagree): it notes, on its own monotonic clock, when it
first saw the Lease as it is now, and takes it once nobody changed it for leaseDurationSeconds after
that. The holder steps down when it has not renewed for `renew_deadline_sec`, shorter than the lease
by one renew interval: it stops before any other replica may take over, so two never run at once."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """The intervals, in seconds: a holder renews every `renew_interval_sec` (and retries a failed
    renewal every `retry_interval_sec`), a standby tries every `retry_interval_sec`."""

    lease_duration_sec: float = 15.0
    renew_interval_sec: float = 5.0
    retry_interval_sec: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_interval_sec <= self.renew_interval_sec:
            raise ValueError("the retry interval must be positive and at most the renew interval")
        if self.renew_deadline_sec < self.renew_interval_sec:
            raise ValueError(
                "the lease must last at least two renew intervals: one to renew in, one of margin"
                f" (lease {self.lease_duration_sec}s, renew every {self.renew_interval_sec}s)"
            )

    @property
    def renew_deadline_sec(self) -> float:
        """How long the holder may go without renewing before it stops running the handlers."""
        return self.lease_duration_sec - self.renew_interval_sec


@dataclass(frozen=True)
class Record:
    """What the Lease says: its holder ('' when released or never held), for how long, its
    renewTime as written (only compared for a change), its transitions and resourceVersion."""

    holder: str
    duration_sec: float
    renew_time: str
    transitions: int
    version: str


@dataclass(frozen=True)
class Observation:
    """A Lease's record and when (this replica's monotonic clock) it was first seen as it is."""

    record: Record
    seen_at: float


def observe(previous: Observation | None, record: Record, now: float) -> Observation:
    """The observation after reading `record` at `now`: its clock restarts only when the holder
    renewed, changed or released it (a read that finds it unchanged keeps the first sighting)."""
    if previous is not None and _stamp(previous.record) == _stamp(record):
        return Observation(record, previous.seen_at)
    return Observation(record, now)


def _stamp(record: Record) -> tuple[str, float, str, int]:
    return record.holder, record.duration_sec, record.renew_time, record.transitions


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet
    ACQUIRE = "acquire"  # released, or not renewed for its duration: take it
    RENEW = "renew"  # this replica holds it
    WAIT = "wait"  # another replica holds it


def decide(seen: Observation | None, identity: str, now: float) -> Action:
    """What the replica `identity` does with the Lease it saw (None: there is none)."""
    if seen is None:
        return Action.CREATE
    if seen.record.holder == identity:
        return Action.RENEW
    if not seen.record.holder or now - seen.seen_at >= seen.record.duration_sec:
        return Action.ACQUIRE
    return Action.WAIT


def transitions_after(record: Record, identity: str) -> int:
    """leaseTransitions once `identity` holds the Lease: one more when the holder changes."""
    return record.transitions if record.holder == identity else record.transitions + 1


def must_step_down(renewed_at: float, now: float, timing: Timing) -> bool:
    """Whether the holder, whose last successful renewal started at `renewed_at`, must stop: past
    the renew deadline another replica may take the Lease soon, so it stops before that."""
    return now - renewed_at >= timing.renew_deadline_sec


def failover_bound_sec(timing: Timing) -> float:
    """The longest a Lease whose holder died stays untaken, for a standby that polls: the lease's
    duration and one retry interval."""
    return timing.lease_duration_sec + timing.retry_interval_sec
