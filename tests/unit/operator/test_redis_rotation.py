"""The Redis password's rotation as the phase model sees it (redis_rotation.py, rotation.py): the
ids counted from the user's password hashes, the phases with no Activate step, an operator restart
in any phase taking up what Redis and the Secret hold without a second password, drift, one rotate
request taken up once by each credential, and ids that reveal neither password nor hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from club_operator import credentials, redis_rotation, rotation
from club_operator.redis_target import password_sha256
from club_operator.rotation import Action, Phase, Policy, Record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(interval=timedelta(hours=2160), overlap=timedelta(hours=24), lifetime=timedelta(0))
OLD, NEW = "old-password", "new-password"
OLD_ID, NEW_ID = credentials.redis_password_id(OLD), credentials.redis_password_id(NEW)
OLD_HASH, NEW_HASH = password_sha256(OLD), password_sha256(NEW)


def _step(
    record: Record | None,
    now: datetime,
    *,
    secret: str,
    held: set[str],
    propagated: bool = False,
    request: str | None = None,
) -> rotation.Plan:
    """One reconcile's plan, with the user holding the hashes `held` and the Secret `secret`."""
    active = credentials.redis_password_id(secret)
    return rotation.advance(
        record,
        active_kid=active,
        kids=redis_rotation.held_ids(record, active, password_sha256(secret), frozenset(held)),
        propagated=propagated,
        now=now,
        policy=POLICY,
        request=request,
        new_kid=NEW_ID,
        wording=rotation.REDIS_WORDING,
    )


def _settled() -> Record:
    return Record(Phase.PROPAGATED, OLD_ID, None, T0, T0 + POLICY.interval, "initial", propagated=T0)


def test_the_id_names_the_password_without_revealing_it() -> None:
    password = credentials.generate_password()
    found = credentials.redis_password_id(password)
    assert found == credentials.redis_password_id(password)
    assert found != credentials.redis_password_id(credentials.generate_password())
    assert found not in password
    assert found not in password_sha256(password)
    assert len(found) == 12


def test_a_request_issues_the_new_password_in_use_at_once_then_propagates_and_revokes() -> None:
    issued = _step(_settled(), T0 + timedelta(hours=1), secret=OLD, held={OLD_HASH}, request="drill")
    assert issued.action is Action.ISSUE
    assert (issued.record.phase, issued.record.kid, issued.record.previous_kid) == (
        Phase.ISSUED,
        NEW_ID,
        OLD_ID,
    )
    assert issued.record.request == "drill"
    assert issued.request_handled
    assert any(f"issued Redis password {NEW_ID}" in e for e in issued.events)

    # Written: the Secret holds the new password, the user both. Not rolled out yet: nothing to do
    # (no Activate step: the Secret's password is the one in use from Issued on).
    waiting = _step(issued.record, T0 + timedelta(hours=1, minutes=1), secret=NEW, held={OLD_HASH, NEW_HASH})
    assert waiting.action is Action.NONE
    assert waiting.record.phase is Phase.ISSUED

    rolled = _step(
        issued.record, T0 + timedelta(hours=2), secret=NEW, held={OLD_HASH, NEW_HASH}, propagated=True
    )
    assert (rolled.action, rolled.record.phase) == (Action.NONE, Phase.PROPAGATED)
    assert rolled.record.propagated == T0 + timedelta(hours=2)

    # Not before the overlap, and then the previous password goes.
    early = _step(
        rolled.record, T0 + timedelta(hours=25), secret=NEW, held={OLD_HASH, NEW_HASH}, propagated=True
    )
    assert early.action is Action.NONE
    due = _step(
        rolled.record, T0 + timedelta(hours=26), secret=NEW, held={OLD_HASH, NEW_HASH}, propagated=True
    )
    assert due.action is Action.REVOKE
    assert f"removing Redis password {OLD_ID} from the club's Redis user" in due.events

    revoked = _step(due.record, T0 + timedelta(hours=26), secret=NEW, held={NEW_HASH}, propagated=True)
    assert (revoked.record.phase, revoked.record.revoked) == (Phase.REVOKED, T0 + timedelta(hours=26))
    assert revoked.record.settled
    # The request stays taken up: the same annotation value rotates nothing more.
    assert rotation.pending_request("drill", revoked.record, None) is None


def test_a_restart_between_the_secret_and_the_record_takes_the_password_up() -> None:
    """The Secret was written (and ensure_redis_user added its password, keeping the old one) but
    the status still records the settled old password: taken up, no second password."""
    planned = _step(
        _settled(), T0 + timedelta(hours=1), secret=NEW, held={OLD_HASH, NEW_HASH}, request="drill"
    )
    assert planned.action is Action.NONE
    assert (planned.record.phase, planned.record.kid, planned.record.previous_kid) == (
        Phase.ISSUED,
        NEW_ID,
        OLD_ID,
    )
    assert planned.record.reason == "adopted"
    assert planned.request_handled


def test_a_restart_in_any_later_phase_issues_nothing_and_revokes_nothing_early() -> None:
    issued = _step(_settled(), T0, secret=OLD, held={OLD_HASH}, request="drill").record
    for record in (issued, rotation.from_status(issued.to_status())):
        again = _step(record, T0 + timedelta(minutes=5), secret=NEW, held={OLD_HASH, NEW_HASH})
        assert again.action is Action.NONE
        assert again.record.kid == NEW_ID
        assert not again.request_handled
    propagated = _step(
        issued, T0 + timedelta(hours=1), secret=NEW, held={OLD_HASH, NEW_HASH}, propagated=True
    )
    resumed = rotation.from_status(propagated.record.to_status())
    assert resumed == propagated.record
    later = _step(resumed, T0 + timedelta(hours=2), secret=NEW, held={OLD_HASH, NEW_HASH}, propagated=True)
    assert later.action is Action.NONE


def test_the_rollout_is_awaited_even_once_due_and_never_revoked_before_propagated() -> None:
    issued = _step(_settled(), T0, secret=OLD, held={OLD_HASH}, request="drill").record
    late = _step(issued, T0 + timedelta(days=30), secret=NEW, held={OLD_HASH, NEW_HASH})
    assert late.action is Action.NONE
    assert late.record.phase is Phase.ISSUED


def test_schedule_on_the_service_password_interval() -> None:
    due = _step(_settled(), T0 + POLICY.interval, secret=OLD, held={OLD_HASH})
    assert due.action is Action.ISSUE
    assert due.record.reason == "scheduled"
    assert not due.request_handled


def test_held_ids_count_the_other_hash_as_the_records_other_password() -> None:
    settled = _settled()
    assert redis_rotation.held_ids(settled, OLD_ID, OLD_HASH, frozenset({OLD_HASH})) == {OLD_ID}
    assert redis_rotation.held_ids(None, OLD_ID, OLD_HASH, frozenset({OLD_HASH, NEW_HASH})) == {OLD_ID}
    # The Secret names another password than the record: the record's is the other one.
    assert redis_rotation.held_ids(settled, NEW_ID, NEW_HASH, frozenset({OLD_HASH, NEW_HASH})) == {
        NEW_ID,
        OLD_ID,
    }


def test_a_password_no_rotation_issued_is_drift_once_settled() -> None:
    settled = _settled()
    stray = password_sha256("added by hand")
    assert redis_rotation.drifted(settled, OLD_ID, OLD_HASH, frozenset({OLD_HASH, stray}))
    assert not redis_rotation.drifted(settled, OLD_ID, OLD_HASH, frozenset({OLD_HASH}))
    issued = _step(settled, T0, secret=OLD, held={OLD_HASH}, request="drill").record
    assert not redis_rotation.drifted(issued, NEW_ID, NEW_HASH, frozenset({OLD_HASH, NEW_HASH}))


def test_one_request_is_taken_up_once_by_each_credential() -> None:
    """The JWT key may take a request up reconciles before the Redis password is free to: each
    record keeps the value it took up, so the other still rotates for it, once."""
    busy = _step(_settled(), T0, secret=OLD, held={OLD_HASH}, request="first").record
    # status.lastRotateRequest already says "second" (the JWT key took it up); the Redis record
    # took up only "first".
    assert rotation.pending_request("second", busy, "second") == "second"
    assert rotation.pending_request("first", busy, "second") is None
    # A record that took no request up yet (a Club from before) goes by lastRotateRequest.
    assert rotation.pending_request("old", _settled(), "old") is None
    assert rotation.pending_request(None, busy, None) is None
