"""Leader election's decisions (club_operator.lease_timing): who may take the Lease and when, on the
replica's own clock, and when a holder steps down."""

from __future__ import annotations

import pytest

from club_operator.lease_timing import (
    Action,
    Observation,
    Record,
    Timing,
    decide,
    failover_bound_sec,
    must_step_down,
    observe,
    transitions_after,
)

TIMING = Timing(lease_duration_sec=15, renew_interval_sec=5, retry_interval_sec=2)


def _record(holder: str = "a", renewed: str = "t1", transitions: int = 0, version: str = "1") -> Record:
    return Record(
        holder=holder, duration_sec=15, renew_time=renewed, transitions=transitions, version=version
    )


def test_no_lease_is_created() -> None:
    assert decide(None, "b", now=0) is Action.CREATE


def test_the_holder_renews_its_own_lease() -> None:
    seen = observe(None, _record("a"), now=100)
    assert decide(seen, "a", now=100) is Action.RENEW
    assert decide(seen, "a", now=1000) is Action.RENEW  # even late: its deadline is checked apart


def test_another_holders_lease_is_waited_for_until_it_is_not_renewed_for_its_duration() -> None:
    seen = observe(None, _record("a"), now=100)
    assert decide(seen, "b", now=100) is Action.WAIT
    assert decide(seen, "b", now=114.9) is Action.WAIT
    assert decide(seen, "b", now=115) is Action.ACQUIRE


def test_the_duration_runs_from_when_this_replica_first_saw_the_lease_not_from_its_renew_time() -> None:
    """The renewTime written may come from a clock far off: only a change of it counts."""
    first = observe(None, _record("a", renewed="2020-01-01T00:00:00+00:00"), now=100)
    again = observe(first, _record("a", renewed="2020-01-01T00:00:00+00:00", version="2"), now=110)
    assert again.seen_at == 100  # a read finding it unchanged keeps the first sighting
    assert decide(again, "b", now=115) is Action.ACQUIRE
    renewed = observe(again, _record("a", renewed="2020-01-01T00:00:05+00:00"), now=112)
    assert renewed.seen_at == 112
    assert decide(renewed, "b", now=115) is Action.WAIT
    assert decide(renewed, "b", now=127) is Action.ACQUIRE


def test_a_new_holder_restarts_the_clock() -> None:
    first = observe(None, _record("a", renewed="t"), now=100)
    taken = observe(first, _record("c", renewed="t", transitions=1), now=120)
    assert decide(taken, "b", now=121) is Action.WAIT


def test_a_released_lease_is_taken_at_once() -> None:
    seen = observe(None, Record(holder="", duration_sec=1, renew_time="t", transitions=3, version="9"), now=5)
    assert decide(seen, "b", now=5) is Action.ACQUIRE


def test_transitions_count_changes_of_holder() -> None:
    assert transitions_after(_record("a", transitions=2), "a") == 2
    assert transitions_after(_record("a", transitions=2), "b") == 3
    assert transitions_after(_record("", transitions=2), "b") == 3


def test_the_holder_steps_down_one_renew_interval_before_a_standby_may_take_over() -> None:
    assert TIMING.renew_deadline_sec == 10
    assert not must_step_down(renewed_at=50, now=59.9, timing=TIMING)
    assert must_step_down(renewed_at=50, now=60, timing=TIMING)
    # A standby that saw the renewal (at 50 or later) waits until 65 at least: never two holders.
    seen = observe(None, _record("a"), now=50)
    assert decide(seen, "b", now=60) is Action.WAIT


def test_a_dead_holders_lease_is_taken_within_its_duration_and_one_retry() -> None:
    assert failover_bound_sec(TIMING) == 17


@pytest.mark.parametrize(
    ("duration", "renew", "retry"),
    [(15, 10, 2), (15, 5, 6), (15, 5, 0), (8, 5, 2)],
)
def test_timings_without_a_margin_are_refused(duration: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        Timing(lease_duration_sec=duration, renew_interval_sec=renew, retry_interval_sec=retry)


def test_an_observation_keeps_the_record_read() -> None:
    record = _record("a", version="7")
    assert observe(Observation(_record("a", version="6"), 1), record, now=2).record == record
