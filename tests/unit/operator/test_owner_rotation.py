"""The bootstrap owner's password as owner_plan.plan_owner steps it: no overlap (Issued and Revoked
together), only while the owner's account still accepts the Secret's password, a rotation written
to the Secret and not to the account finished after a restart, and no Argon2 check when nothing is
due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from club_operator import credentials, owner_plan
from club_operator.owner_plan import OwnerWrite, Row
from club_operator.rotation import Phase, Record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INTERVAL = timedelta(hours=2160)


def _plan(
    record: Record | None,
    now: datetime,
    *,
    row: Row | None,
    previous: str | None = None,
    request: str | None = None,
    current: str = "p1",
) -> owner_plan.OwnerPlan:
    return owner_plan.plan_owner(
        record,
        current_id=current,
        previous_id=previous,
        row=row,
        now=now,
        interval=INTERVAL,
        request=request,
        new_id="p2",
    )


def _settled() -> Record:
    return _plan(None, T0, row=Row.CURRENT).record


def test_the_first_record_is_settled_and_nothing_is_written() -> None:
    planned = _plan(None, T0, row=Row.ABSENT)
    assert planned.write is OwnerWrite.NONE
    assert (planned.record.phase, planned.record.kid, planned.record.reason) == (
        Phase.PROPAGATED,
        "p1",
        "initial",
    )
    assert planned.record.settled


def test_a_request_replaces_the_password_with_no_overlap() -> None:
    planned = _plan(_settled(), T0 + timedelta(hours=1), row=Row.CURRENT, request="drill")
    assert planned.write is OwnerWrite.ISSUE
    record = planned.record
    assert (record.phase, record.kid, record.previous_kid) == (Phase.REVOKED, "p2", "p1")
    assert record.issued == record.propagated == record.revoked == T0 + timedelta(hours=1)
    assert record.request == "drill"
    assert planned.request_handled
    assert any("issued owner password p2" in e for e in planned.events)


def test_a_password_the_owner_chose_is_not_rotated() -> None:
    planned = _plan(_settled(), T0 + INTERVAL, row=Row.OTHER)
    assert planned.write is OwnerWrite.NONE
    assert planned.record.kid == "p1"
    assert planned.record.reason == "owner-chosen"
    assert (
        planned.record.next_rotation == T0 + 2 * INTERVAL
    )  # looked at again next interval, not each reconcile


def test_no_account_yet_waits() -> None:
    planned = _plan(_settled(), T0 + timedelta(hours=1), row=Row.ABSENT, request="drill")
    assert planned.write is OwnerWrite.NONE
    assert not planned.request_handled


def test_a_restart_between_the_secret_and_the_account_finishes_without_a_new_password() -> None:
    """The Secret holds p2 with p1 kept as previous; the status still says p1."""
    planned = _plan(_settled(), T0 + timedelta(hours=1), row=Row.PREVIOUS, current="p2", previous="p1")
    assert planned.write is OwnerWrite.FINISH
    assert (planned.record.kid, planned.record.previous_kid, planned.record.phase) == (
        "p2",
        "p1",
        Phase.REVOKED,
    )
    assert planned.record.reason == "adopted"
    # The account was changed but the previous password not yet cleared: only cleared.
    cleared = _plan(_settled(), T0 + timedelta(hours=1), row=Row.CURRENT, current="p2", previous="p1")
    assert cleared.write is OwnerWrite.CLEAR
    assert cleared.record.kid == "p2"


def test_the_row_is_read_only_when_due_asked_or_in_flight() -> None:
    settled = _settled()
    assert not owner_plan.owner_needs_row(
        settled, has_previous=False, now=T0 + timedelta(hours=1), request=None
    )
    assert owner_plan.owner_needs_row(settled, has_previous=False, now=T0 + INTERVAL, request=None)
    assert owner_plan.owner_needs_row(settled, has_previous=False, now=T0, request="drill")
    assert owner_plan.owner_needs_row(settled, has_previous=True, now=T0, request=None)
    assert owner_plan.owner_needs_row(None, has_previous=False, now=T0, request=None)


def test_the_id_reveals_nothing_of_the_password() -> None:
    password = credentials.generate_password()
    found = credentials.owner_password_id(password)
    assert found not in password
    assert found != credentials.redis_password_id(password)
