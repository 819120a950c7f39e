"""The S3 access key's rotation as the phase model sees it (s3_keys.py, s3_rotation.py, rotation.py):
the Club's two users and their names, the key the Secret holds, ids that reveal neither half of a
key, the phases with no Activate step, an operator restart in any phase taking up what the Secret
and the server hold without a second key, drift, and the SecretsRotated message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from club_operator import credentials, naming, rotation, rotation_condition, s3_keys, s3_rotation
from club_operator.conditions import Reason
from club_operator.models import ClubSpec
from club_operator.rotation import Action, Phase, Policy, Record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(interval=timedelta(hours=2160), overlap=timedelta(hours=24), lifetime=timedelta(0))
USER = "club-fc-united"
ALTERNATE = s3_keys.alternate_user(USER)
OLD_SECRET, NEW_SECRET = "old-secret-key", "new-secret-key"
OLD_ID, NEW_ID = s3_keys.key_id(USER, OLD_SECRET), s3_keys.key_id(ALTERNATE, NEW_SECRET)


def _step(
    record: Record | None,
    now: datetime,
    *,
    active: str,
    other_exists: bool,
    propagated: bool = False,
    request: str | None = None,
) -> rotation.Plan:
    """One reconcile's plan, the Secret holding the key `active` and the other user existing or not."""
    return rotation.advance(
        record,
        active_kid=active,
        kids=s3_keys.held_ids(record, active, other_exists),
        propagated=propagated,
        now=now,
        policy=POLICY,
        request=request,
        new_kid=NEW_ID,
        wording=rotation.S3_WORDING,
    )


def _settled() -> Record:
    return Record(Phase.PROPAGATED, OLD_ID, None, T0, T0 + POLICY.interval, "initial", propagated=T0)


def _names(namespace: str, name: str) -> naming.ClubNames:
    return naming.build_names(namespace, name, ClubSpec.model_validate({"displayName": "X"}), "clubs")


def test_the_key_alternates_between_the_clubs_two_users() -> None:
    assert s3_keys.club_users(USER) == (USER, "club-fc-united--alternate")
    assert s3_keys.other_user(USER, USER) == ALTERNATE
    assert s3_keys.other_user(USER, ALTERNATE) == USER


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("fc", "united"), ("team-a", "x"), ("team", "a-x"), ("fc", "united--alternate"), ("fc", "a.b")],
)
def test_the_alternate_user_is_no_other_clubs_user(namespace: str, name: str) -> None:
    """A plain S3 user never holds "--"; a digested one ends in hex digits; the backup writer's in
    "--backup": no Club's alternate is another Club's user, alternate or backup writer."""
    mine = _names(namespace, name)
    others = [_names(*club) for club in (("fc", "united"), ("fc", "united-alternate"), ("team-a", "x"))]
    for other in others:
        if (other.namespace, other.name) == (namespace, name):
            continue
        taken = {other.s3_user, s3_keys.alternate_user(other.s3_user), other.backup_s3_user}
        assert s3_keys.alternate_user(mine.s3_user) not in taken
        assert mine.s3_user not in taken
    assert s3_keys.alternate_user(mine.s3_user) != mine.backup_s3_user


def test_the_secret_names_the_user_in_use_when_it_is_one_of_the_clubs() -> None:
    secret = {"accessKeyId": ALTERNATE, credentials.STORAGE_SECRET_KEY: "s"}
    assert s3_keys.in_use(USER, secret) == (ALTERNATE, "s")
    assert s3_keys.in_use(USER, {"accessKeyId": USER, credentials.STORAGE_SECRET_KEY: "s"}) == (USER, "s")
    # A user a person wrote there (another Club's, say) is not taken: the Club's own is.
    assert s3_keys.in_use(USER, {"accessKeyId": "club-other-x", credentials.STORAGE_SECRET_KEY: "s"}) == (
        USER,
        "s",
    )
    assert s3_keys.in_use(USER, {}) == (USER, None)


def test_the_id_names_the_key_without_revealing_it() -> None:
    secret = credentials.generate_password()
    found = s3_keys.key_id(USER, secret)
    assert found == s3_keys.key_id(USER, secret)
    assert len(found) == 12
    assert found not in secret
    assert found not in USER
    # The same user with a new secret key (every other rotation), and the other user, differ.
    assert found != s3_keys.key_id(USER, credentials.generate_password())
    assert found != s3_keys.key_id(ALTERNATE, secret)


def test_a_request_issues_the_new_key_then_propagates_and_revokes_after_the_overlap() -> None:
    issued = _step(_settled(), T0 + timedelta(hours=1), active=OLD_ID, other_exists=False, request="drill")
    assert issued.action is Action.ISSUE
    assert (issued.record.phase, issued.record.kid, issued.record.previous_kid) == (
        Phase.ISSUED,
        NEW_ID,
        OLD_ID,
    )
    assert issued.request_handled
    assert issued.events == (
        f"issued S3 access key {NEW_ID} (requested: drill); key {OLD_ID} keeps working until every pod "
        "uses the new one and the overlap has passed",
    )
    # Written: the Secret names the other user, which exists with the new key; the pods roll.
    now = T0 + timedelta(hours=2)
    rolling = _step(issued.record, now, active=NEW_ID, other_exists=True)
    assert (rolling.action, rolling.record.phase) == (Action.NONE, Phase.ISSUED)
    propagated = _step(rolling.record, now, active=NEW_ID, other_exists=True, propagated=True)
    assert (propagated.action, propagated.record.phase) == (Action.NONE, Phase.PROPAGATED)
    assert propagated.events == (f"S3 access key {NEW_ID} propagated: every API and worker pod uses it",)
    early = _step(
        propagated.record, now + timedelta(hours=23), active=NEW_ID, other_exists=True, propagated=True
    )
    assert early.action is Action.NONE
    due = _step(
        propagated.record, now + timedelta(hours=24), active=NEW_ID, other_exists=True, propagated=True
    )
    assert due.action is Action.REVOKE
    # The previous user deleted: recorded at once, as s3_rotation does.
    done = _step(due.record, now + timedelta(hours=24), active=NEW_ID, other_exists=False, propagated=True)
    assert (done.record.phase, done.record.kid, done.record.previous_kid) == (Phase.REVOKED, NEW_ID, OLD_ID)
    assert done.events == (f"S3 access key {OLD_ID} revoked: the S3 server no longer accepts it",)


def test_never_revoked_before_every_pod_uses_the_new_key() -> None:
    issued = _step(_settled(), T0, active=OLD_ID, other_exists=False, request="drill").record
    late = T0 + timedelta(days=400)  # past the overlap and the interval alike
    plan = _step(issued, late, active=NEW_ID, other_exists=True, propagated=False)
    assert plan.action is Action.NONE
    assert plan.record.phase == Phase.ISSUED
    assert not s3_keys.drifted(plan.record, NEW_ID, other_exists=True, propagated=False)


def test_a_restart_after_the_secret_was_written_adopts_the_key_rather_than_issuing_another() -> None:
    """The operator wrote the Secret (and the storage step then made the other user) but stopped
    before recording the rotation: the status still says the old key, settled."""
    plan = _step(_settled(), T0 + timedelta(hours=1), active=NEW_ID, other_exists=True, request="drill")
    assert plan.action is Action.NONE
    assert (plan.record.phase, plan.record.kid, plan.record.previous_kid) == (Phase.ISSUED, NEW_ID, OLD_ID)
    assert plan.record.reason == "adopted"
    assert plan.request_handled
    assert plan.events == (f"took up S3 access key {NEW_ID}, found in the Secret but not yet recorded",)


@pytest.mark.parametrize("phase", [Phase.ISSUED, Phase.PROPAGATED])
def test_a_restart_in_a_recorded_phase_goes_on_from_it(phase: Phase) -> None:
    record = Record(phase, NEW_ID, OLD_ID, T0, T0 + POLICY.interval, "requested", request="drill")
    if phase == Phase.PROPAGATED:
        record = Record(
            phase, NEW_ID, OLD_ID, T0, T0 + POLICY.interval, "requested", propagated=T0, request="drill"
        )
    plan = _step(record, T0 + timedelta(minutes=5), active=NEW_ID, other_exists=True, propagated=True)
    assert plan.action is Action.NONE  # no second key, and within the overlap no revoke
    assert plan.record.kid == NEW_ID
    assert plan.record.previous_kid == OLD_ID


def test_an_other_user_no_rotation_accounts_for_is_drift_once_settled_and_propagated() -> None:
    record = _step(_settled(), T0, active=OLD_ID, other_exists=True, propagated=True).record
    assert record.settled
    assert s3_keys.drifted(record, OLD_ID, other_exists=True, propagated=True)
    assert not s3_keys.drifted(record, OLD_ID, other_exists=False, propagated=True)


def test_scheduled_on_the_service_credentials_interval() -> None:
    plan = _step(_settled(), T0 + POLICY.interval, active=OLD_ID, other_exists=False, propagated=True)
    assert plan.action is Action.ISSUE
    assert plan.record.reason == "scheduled"


def test_the_condition_says_where_the_key_stands_by_its_ids() -> None:
    record = Record(Phase.PROPAGATED, NEW_ID, OLD_ID, T0, T0 + POLICY.interval, "requested", propagated=T0)
    reason, message = rotation_condition.describe(record, POLICY, s3_rotation.PHRASES)
    assert reason is Reason.ROTATION_PROPAGATED
    assert message == (
        f"every pod uses S3 access key {NEW_ID} since 2026-01-01T00:00:00Z; key {OLD_ID} is deleted "
        "after 2026-01-02T00:00:00Z; next S3 access key rotation at 2026-04-01T00:00:00Z"
    )
