"""Which reconcile may stand on a registered rollout wait instead of running whole."""

from __future__ import annotations

import threading
import time

from club_operator import rollouts
from club_operator.config import OperatorSettings
from club_operator.outcome import ClubObject, Outcome


def _club(generation: int = 1, uid: str = "00000000-0000-4000-8000-000000000001") -> ClubObject:
    return ClubObject(namespace="ns", name="fc", uid=uid, generation=generation, spec={})


def test_a_wait_is_taken_once_by_the_same_generation() -> None:
    rollouts.wait(_club(), Outcome(rolling_out=True), {"phase": "Provisioning"}, time.monotonic())
    found = rollouts.take(_club(), max_age_sec=60)
    assert found is not None
    assert found.status == {"phase": "Provisioning"}
    assert rollouts.take(_club(), max_age_sec=60) is None


def test_a_new_generation_or_a_new_club_of_the_same_name_runs_whole() -> None:
    rollouts.wait(_club(), Outcome(rolling_out=True), {}, time.monotonic())
    assert rollouts.take(_club(generation=2), max_age_sec=60) is None
    rollouts.wait(_club(), Outcome(rolling_out=True), {}, time.monotonic())
    assert rollouts.take(_club(uid="00000000-0000-4000-8000-000000000002"), max_age_sec=60) is None


def test_a_wait_older_than_the_resync_interval_runs_whole() -> None:
    # Re-checks keep the time of the whole reconcile they stand on: a rollout that never ends
    # still gets a whole reconcile (drift repair, isolation probe) every resync interval.
    rollouts.wait(_club(), Outcome(rolling_out=True), {}, time.monotonic() - 61)
    assert rollouts.take(_club(), max_age_sec=60) is None


def test_a_dropped_club_is_not_waiting() -> None:
    rollouts.wait(_club(), Outcome(rolling_out=True), {}, time.monotonic())
    rollouts.drop(_club())
    assert rollouts.take(_club(), max_age_sec=60) is None


def test_one_recheck_thread_however_many_handlers_start_it() -> None:
    settings = OperatorSettings()
    for _ in range(3):
        rollouts.start(settings)
    assert sum(t.name == "club-rollouts" for t in threading.enumerate()) == 1
