"""The breach response's record and steps (revoke_plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from club_operator import revoke_plan
from club_operator.revoke_plan import Phase, Record, Step

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
EVERY = ("jwtSigningKey", "redisPassword", "ownerPassword")


def test_a_new_request_replaces_everything_whatever_came_before() -> None:
    done = Record("leak-1", Phase.REVOKED, NOW, NOW, EVERY, revoked=NOW)
    assert revoke_plan.step("leak-2", done, EVERY, propagated=True) is Step.REPLACE
    assert revoke_plan.step("leak-1", None, EVERY, propagated=True) is Step.REPLACE


def test_each_request_is_acted_on_once() -> None:
    done = Record("leak-1", Phase.REVOKED, NOW, NOW, EVERY, revoked=NOW)
    assert revoke_plan.step("leak-1", done, EVERY, propagated=True) is Step.NONE
    assert revoke_plan.step(None, None, EVERY, propagated=True) is Step.NONE


def test_a_partial_replacement_replaces_the_rest_before_waiting_for_the_pods() -> None:
    partial = Record("leak-1", Phase.REVOKING, NOW, NOW, EVERY[:1])
    assert partial.missing(EVERY) == EVERY[1:]
    assert revoke_plan.step("leak-1", partial, EVERY, propagated=True) is Step.REPLACE


def test_done_only_once_every_pod_runs_the_new_credentials() -> None:
    replaced = Record("leak-1", Phase.REVOKING, NOW, NOW, EVERY)
    assert revoke_plan.step("leak-1", replaced, EVERY, propagated=False) is Step.WAIT
    assert revoke_plan.step("leak-1", replaced, EVERY, propagated=True) is Step.DONE
    # The annotation removed meanwhile: the revocation still completes.
    assert revoke_plan.step(None, replaced, EVERY, propagated=True) is Step.DONE


def test_the_record_round_trips_through_status_and_measures_from_the_request() -> None:
    replaced = Record("leak-1", Phase.REVOKING, NOW, NOW + timedelta(seconds=2), EVERY)
    done = replaced.complete(NOW + timedelta(seconds=47))
    status = done.to_status()
    assert status == {
        "request": "leak-1",
        "phase": "Revoked",
        "requestedTime": "2026-12-02T09:00:00Z",
        "replacedTime": "2026-12-02T09:00:02Z",
        "credentials": list(EVERY),
        "revokedTime": "2026-12-02T09:00:47Z",
        "seconds": 47,
    }
    assert revoke_plan.from_status(status) == done
    assert revoke_plan.from_status({"request": "x"}) is None
    assert revoke_plan.from_status("garbage") is None


def test_newest_prefers_the_later_replacement_then_the_finished_copy() -> None:
    first = Record("leak-1", Phase.REVOKING, NOW, NOW, EVERY[:1])
    more = Record("leak-1", Phase.REVOKING, NOW, NOW + timedelta(seconds=1), EVERY)
    finished = more.complete(NOW + timedelta(seconds=9))
    assert revoke_plan.newest(first, more) == more
    assert revoke_plan.newest(more, finished) == finished
    assert revoke_plan.newest(None, None) is None


def test_the_request_time_is_the_write_that_set_the_annotation() -> None:
    meta = {
        "managedFields": [
            {"manager": "kopf", "time": "2026-12-02T08:00:00Z", "fieldsV1": {"f:status": {}}},
            {
                "manager": "kubectl-annotate",
                "time": "2026-12-02T08:59:58Z",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:footballclub.io/revoke": {}}}},
            },
        ]
    }
    assert revoke_plan.requested_at(meta, "footballclub.io/revoke") == NOW - timedelta(seconds=2)
    assert revoke_plan.requested_at({}, "footballclub.io/revoke") is None
