"""The rotation phases (rotation.py): Issued -> Propagated -> Revoked from what a reconcile observes,
the overlap rule, restarts that resume from status alone, and the key set edits that carry them
out, checked with the runtime's own token verification."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from club_operator import credentials, rotation
from club_operator.config import OperatorSettings
from club_operator.rotation import Action, Phase, Policy, Record
from club_runtime.core import security
from club_runtime.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(interval=timedelta(hours=720), overlap=timedelta(hours=1), lifetime=timedelta(minutes=30))
MINUTE = timedelta(minutes=1)


def _settled(kid: str = "k1") -> Record:
    return Record(Phase.PROPAGATED, kid, None, T0, T0 + POLICY.interval, "initial", propagated=T0)


def _step(
    record: Record | None,
    now: datetime,
    *,
    active: str = "k1",
    kids: set[str] | None = None,
    propagated: bool = False,
    request: str | None = None,
    policy: Policy = POLICY,
) -> rotation.Plan:
    return rotation.advance(
        record,
        active_kid=active,
        kids=frozenset(kids or {active}),
        propagated=propagated,
        now=now,
        policy=policy,
        request=request,
        new_kid="k2",
    )


def _rotate_to_propagated(start: datetime) -> Record:
    """A rotation from k1 to k2 asked for at `start`, taken to Propagated at `start` + 2 minutes."""
    issued = _step(_settled(), start, request="test")
    assert issued.action is Action.ISSUE
    made_signer = _step(issued.record, start + MINUTE, kids={"k1", "k2"}, propagated=True)
    assert made_signer.action is Action.ACTIVATE
    done = _step(made_signer.record, start + 2 * MINUTE, active="k2", kids={"k1", "k2"}, propagated=True)
    assert done.record.phase is Phase.PROPAGATED
    return done.record


def test_a_new_key_set_is_issued_then_propagated_with_nothing_to_revoke() -> None:
    first = _step(None, T0)
    assert first.action is Action.NONE
    assert first.record.phase is Phase.ISSUED
    assert first.record.previous_kid is None
    assert first.record.next_rotation == T0 + POLICY.interval
    rolled = _step(first.record, T0 + MINUTE, propagated=True)
    assert rolled.record.phase is Phase.PROPAGATED
    assert rolled.record.settled
    assert rolled.action is Action.NONE
    assert _step(rolled.record, T0 + timedelta(days=29), propagated=True).action is Action.NONE


def test_a_scheduled_rotation_adds_a_key_that_verifies_before_it_signs() -> None:
    planned = _step(_settled(), T0 + POLICY.interval)
    assert planned.action is Action.ISSUE
    assert (planned.record.phase, planned.record.kid, planned.record.previous_kid) == (
        Phase.ISSUED,
        "k2",
        "k1",
    )
    assert planned.record.reason == "scheduled"
    assert planned.record.next_rotation == T0 + 2 * POLICY.interval
    assert any("k2" in e and "k1" in e for e in planned.events)
    # Not the signer until every API pod has it.
    waiting = _step(planned.record, T0 + POLICY.interval + MINUTE, kids={"k1", "k2"}, propagated=False)
    assert waiting.action is Action.NONE
    assert waiting.record.phase is Phase.ISSUED
    ready = _step(planned.record, T0 + POLICY.interval + 2 * MINUTE, kids={"k1", "k2"}, propagated=True)
    assert ready.action is Action.ACTIVATE
    assert ready.record.phase is Phase.ISSUED  # Propagated once every pod signs with it


def test_not_due_before_the_interval_has_passed() -> None:
    assert _step(_settled(), T0 + POLICY.interval - timedelta(seconds=1)).action is Action.NONE


def test_a_shorter_interval_moves_the_next_rotation() -> None:
    shorter = Policy(timedelta(hours=2), POLICY.overlap, POLICY.lifetime)
    assert _step(_settled(), T0 + timedelta(hours=2), policy=shorter).action is Action.ISSUE


def test_a_request_rotates_at_once_and_is_marked_handled() -> None:
    planned = _step(_settled(), T0 + MINUTE, request="leaked laptop")
    assert planned.action is Action.ISSUE
    assert planned.request_handled
    assert planned.record.reason == "requested"
    assert any("leaked laptop" in e for e in planned.events)


def test_a_request_during_a_rotation_waits_for_it_to_finish() -> None:
    issued = _step(_settled(), T0 + POLICY.interval).record
    later = _step(issued, T0 + POLICY.interval + MINUTE, kids={"k1", "k2"}, request="again")
    assert later.action is Action.NONE
    assert not later.request_handled


def test_propagated_only_once_every_api_pod_signs_with_the_new_key() -> None:
    issued = _step(_settled(), T0).record
    # Made the signer, its rollout not done: still Issued.
    rolling = _step(issued, T0 + MINUTE, active="k2", kids={"k1", "k2"}, propagated=False)
    assert rolling.record.phase is Phase.ISSUED
    assert rolling.action is Action.NONE
    done = _step(issued, T0 + 2 * MINUTE, active="k2", kids={"k1", "k2"}, propagated=True)
    assert done.record.phase is Phase.PROPAGATED
    assert done.record.propagated == T0 + 2 * MINUTE
    assert any("propagated" in e for e in done.events)


def test_never_revoked_before_propagated_however_long_it_waits() -> None:
    issued = _step(_settled(), T0).record
    for hours in (1, 24, 24 * 365):
        later = _step(issued, T0 + timedelta(hours=hours), active="k2", kids={"k1", "k2"}, propagated=False)
        assert later.action is Action.NONE
        assert later.record.phase is Phase.ISSUED
    # The previous key gone from the set (by hand) does not make an unpropagated key Revoked.
    gone = _step(issued, T0 + timedelta(days=1), active="k2", kids={"k2"}, propagated=False)
    assert gone.record.phase is Phase.ISSUED


@pytest.mark.parametrize(
    ("overlap", "lifetime"),
    [(timedelta(hours=1), timedelta(minutes=30)), (timedelta(minutes=10), timedelta(hours=2))],
)
def test_the_previous_key_goes_after_the_overlap_and_the_token_lifetime_both(
    overlap: timedelta, lifetime: timedelta
) -> None:
    policy = Policy(POLICY.interval, overlap, lifetime)
    record = _rotate_to_propagated(T0)
    keep = max(overlap, lifetime)
    assert record.propagated is not None
    assert record.revoke_at(policy) == record.propagated + keep

    def step_at(now: datetime) -> rotation.Plan:
        return _step(record, now, active="k2", kids={"k1", "k2"}, propagated=True, policy=policy)

    assert step_at(record.propagated + keep - timedelta(seconds=1)).action is Action.NONE
    assert step_at(record.propagated + keep).action is Action.REVOKE


def test_revoked_once_the_previous_key_is_out_and_every_pod_runs_without_it() -> None:
    record = _rotate_to_propagated(T0)
    later = T0 + timedelta(hours=2)
    rolling = _step(record, later, active="k2", kids={"k2"}, propagated=False)
    assert rolling.record.phase is Phase.PROPAGATED  # removed, old pods still verify it
    done = _step(record, later + MINUTE, active="k2", kids={"k2"}, propagated=True)
    assert done.record.phase is Phase.REVOKED
    assert done.record.revoked == later + MINUTE
    assert any("k1" in e and "revoked" in e for e in done.events)
    assert done.record.settled
    assert done.action is Action.NONE


def test_a_restart_resumes_from_the_status_record_alone() -> None:
    issued = _step(_settled(), T0 + POLICY.interval).record
    # What a new process reads back: the same record, with the key set already holding k2.
    again = rotation.from_status(json.loads(json.dumps(issued.to_status())))
    assert again == issued
    planned = _step(again, T0 + POLICY.interval + MINUTE, kids={"k1", "k2"}, propagated=False)
    assert planned.action is Action.NONE  # no second key
    assert planned.record == issued


def test_a_key_written_but_never_recorded_is_taken_up_not_issued_twice() -> None:
    # The operator added k2 to the Secret and stopped before the status write: status says k1.
    planned = _step(_settled(), T0 + POLICY.interval, kids={"k1", "k2"}, request="pending")
    assert planned.action is Action.NONE
    assert (planned.record.phase, planned.record.kid, planned.record.previous_kid) == (
        Phase.ISSUED,
        "k2",
        "k1",
    )
    assert planned.record.reason == "adopted"
    assert planned.request_handled


def test_a_key_set_replaced_by_hand_starts_a_new_record() -> None:
    planned = _step(_settled("k1"), T0 + MINUTE, active="k9")
    assert (planned.record.kid, planned.record.previous_kid) == ("k9", None)
    assert planned.action is Action.NONE


def test_the_newest_of_two_copies_wins() -> None:
    old = _settled()
    issued = _step(old, T0 + POLICY.interval).record
    propagated = _rotate_to_propagated(T0 + POLICY.interval)
    assert rotation.newest(old, issued) == issued
    assert rotation.newest(propagated, issued) == propagated
    assert rotation.newest(None, issued) == issued


@pytest.mark.parametrize("value", [None, "x", {}, {"phase": "Gone", "kid": "k"}, {"phase": "Issued"}])
def test_a_record_this_operator_did_not_write_is_ignored(value: object) -> None:
    assert rotation.from_status(value) is None


def test_the_status_record_holds_ids_and_times_only() -> None:
    keys = credentials.generate_jwt_keys()
    secret = json.loads(keys)["keys"][credentials.active_key_id(keys)]
    record = _rotate_to_propagated(T0)
    assert secret not in json.dumps(record.to_status())
    assert set(record.to_status()) == {
        "phase",
        "kid",
        "previousKid",
        "reason",
        "issuedTime",
        "propagatedTime",
        "nextRotationTime",
        "request",  # the footballclub.io/rotate value it took up: a reason, not a secret
    }


def test_a_status_patch_clears_what_the_last_rotation_left() -> None:
    revoked = _step(
        _rotate_to_propagated(T0), T0 + timedelta(hours=2), active="k2", kids={"k2"}, propagated=True
    )
    before = revoked.record.to_status()
    assert before["revokedTime"]
    issued = _step(revoked.record, T0 + timedelta(hours=3), active="k2", request="again").record
    patch = rotation.status_patch(issued, before, None)
    assert patch["revokedTime"] is None
    assert patch["propagatedTime"] is None
    assert patch["kid"] == "k2"
    # Once the copies hold the new record, the patch is the record itself: nothing to write again,
    # also beside the patch as this process wrote it (its None values).
    assert rotation.status_patch(issued, issued.to_status()) == issued.to_status()
    assert rotation.status_patch(issued, issued.to_status(), patch) == issued.to_status()


def _token(keys: str, club: str) -> str:
    claims = security.Claims(user_id=uuid.uuid4(), club_id=club, role="owner", kind="access", version=1)
    return security.issue_token(security.KeySet.parse(keys), claims=claims, ttl=timedelta(minutes=5))


def _verifies(keys: str, token: str, club: str) -> bool:
    try:
        security.decode_token(security.KeySet.parse(keys), token, club_id=club, kind="access")
    except security.TokenError:
        return False
    return True


def test_each_key_set_of_a_rotation_verifies_what_the_pods_beside_it_sign() -> None:
    """Pods of consecutive key sets run side by side during a roll: each set verifies every token
    the other signs, and only the last set refuses the previous key's tokens."""
    club = str(uuid.uuid4())
    first = credentials.generate_jwt_keys()
    kid, secret = credentials.generate_jwt_key()
    added = credentials.add_jwt_key(first, kid, secret)
    assert credentials.active_key_id(added) == credentials.active_key_id(first)
    assert credentials.key_ids(added) == credentials.key_ids(first) | {kid}
    signer = credentials.activate_jwt_key(added, kid)
    assert credentials.active_key_id(signer) == kid
    revoked = credentials.keep_active_key(signer)
    assert credentials.key_ids(revoked) == {kid}

    old_token, new_token = _token(first, club), _token(signer, club)
    assert _token(added, club).count(".") == 2
    for before, after in ((first, added), (added, signer)):
        for keys in (before, after):
            assert _verifies(keys, _token(before, club), club)
            assert _verifies(keys, _token(after, club), club)
    assert _verifies(signer, old_token, club)
    assert not _verifies(revoked, old_token, club)
    assert _verifies(revoked, new_token, club)
    with pytest.raises(credentials.InvalidKeySet):
        credentials.activate_jwt_key(first, "not-there")


def test_the_operator_waits_for_the_runtimes_longest_token() -> None:
    runtime = Settings.model_fields
    longest = max(runtime["jwt_access_ttl_sec"].default, runtime["jwt_refresh_ttl_sec"].default)
    assert OperatorSettings.model_fields["jwt_token_lifetime_sec"].default >= longest
