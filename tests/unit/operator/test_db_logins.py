"""The database password's rotation as the phase model sees it (db_logins.py, db_rotation.py,
rotation.py): the two login names (within PostgreSQL's limit, never another Club's role or login),
the login the Secret may name, the ids (login and password id, never the password), and the phases
through the logins that can still log in: a Club that logs in as its role moving to a login of its
own, the logins alternating, an operator restart after the Secret was written taking up that
password rather than issuing a second, never retiring a login before propagation, and strays."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from club_operator import credentials, db_logins, naming, rotation
from club_operator.rotation import Action, Phase, Policy, Record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(interval=timedelta(days=90), overlap=timedelta(hours=1), lifetime=timedelta(0))
ROLE = "club_league_rovers"
A, B = db_logins.login_names(ROLE)
OLD, NEW = "old-password", "new-password"


def test_the_logins_are_the_role_with_a_doubled_separator_and_a_letter() -> None:
    assert (A, B) == ("club_league_rovers__a", "club_league_rovers__b")
    assert db_logins.logins(ROLE) == (ROLE, A, B)


def test_a_role_too_long_for_the_suffix_gets_a_digest_and_stays_within_63_bytes() -> None:
    long_role = naming.pg_club_name("n" * 20, "x" * 60)
    a, b = db_logins.login_names(long_role)
    assert len(long_role) == 63
    assert len(a) <= 63
    assert len(b) <= 63
    assert a != b
    assert a.endswith("_a")
    assert b.endswith("_b")
    other = db_logins.login_names(naming.pg_club_name("n" * 20, "x" * 59 + "y"))
    assert not {a, b} & set(other)


NAMESPACES = ("a", "team", "team-a", "t" * 30)
NAMES = ("x", "a-x", "x-a", "x-b", "x--a", "x.a", "rovers", "r" * 60, "r" * 59 + "-a")


def test_no_login_is_any_clubs_role_or_another_clubs_login() -> None:
    roles = {naming.pg_club_name(ns, name) for ns, name in itertools.product(NAMESPACES, NAMES)} | {
        naming.pg_identifier("club", ns, name) for ns, name in itertools.product(NAMESPACES, NAMES)
    }
    logins: dict[str, str] = {}
    for role in roles:
        for login in db_logins.login_names(role):
            assert len(login.encode()) <= 63
            assert login not in roles, login
            assert logins.setdefault(login, role) == role, login


def test_the_secret_may_name_only_one_of_the_clubs_logins() -> None:
    assert db_logins.current_login(ROLE, None) == ROLE
    assert db_logins.current_login(ROLE, ROLE) == ROLE
    assert db_logins.current_login(ROLE, A) == A
    assert db_logins.current_login(ROLE, B) == B
    assert db_logins.current_login(ROLE, "postgres") == ROLE
    assert db_logins.current_login(ROLE, "club_league_other__a") == ROLE


def test_a_rotation_moves_to_the_login_not_in_use() -> None:
    assert db_logins.next_login(ROLE, ROLE) == A
    assert db_logins.next_login(ROLE, A) == B
    assert db_logins.next_login(ROLE, B) == A


def test_the_id_names_the_login_and_the_password_without_revealing_it() -> None:
    password = credentials.generate_password()
    found = db_logins.credential_id(A, password)
    assert found == db_logins.credential_id(A, password)
    assert found != db_logins.credential_id(B, password)
    assert found != db_logins.credential_id(A, credentials.generate_password())
    assert password not in found
    assert db_logins.login_of(found) == A
    assert db_logins.password_id(password) != credentials.redis_password_id(password)


def _id(login: str, password: str) -> str:
    return db_logins.credential_id(login, password)


def _step(
    record: Record | None,
    now: datetime,
    *,
    login: str,
    password: str,
    can_login: dict[str, bool],
    propagated: bool = False,
    request: str | None = None,
    new_login: str | None = None,
) -> rotation.Plan:
    active = _id(login, password)
    return rotation.advance(
        record,
        active_kid=active,
        kids=db_logins.live_ids(record, active, can_login),
        propagated=propagated,
        now=now,
        policy=POLICY,
        request=request,
        new_kid=_id(new_login or db_logins.next_login(ROLE, login), NEW),
        wording=rotation.DATABASE_WORDING,
    )


LEGACY = {ROLE: True, A: False, B: False}


def test_a_club_on_its_role_moves_to_its_first_login_then_retires_the_roles_own_login() -> None:
    first = _step(None, T0, login=ROLE, password=OLD, can_login=LEGACY, propagated=True)
    assert first.action is Action.NONE
    assert first.record.phase is Phase.PROPAGATED
    assert first.record.kid == _id(ROLE, OLD)

    t1 = T0 + timedelta(minutes=5)
    issued = _step(first.record, t1, login=ROLE, password=OLD, can_login=LEGACY, request="drill")
    assert issued.action is Action.ISSUE
    assert (issued.record.phase, issued.record.kid) == (Phase.ISSUED, _id(A, NEW))
    assert issued.record.previous_kid == _id(ROLE, OLD)
    assert issued.request_handled
    assert any("issued database login" in e for e in issued.events)

    both = {ROLE: True, A: True, B: False}
    # The pods roll; the role's own sessions linger: not propagated, nothing retired.
    waiting = _step(issued.record, t1 + timedelta(minutes=1), login=A, password=NEW, can_login=both)
    assert waiting.action is Action.NONE
    assert waiting.record.phase is Phase.ISSUED
    t2 = t1 + timedelta(minutes=2)
    done = _step(waiting.record, t2, login=A, password=NEW, can_login=both, propagated=True)
    assert (done.record.phase, done.action) == (Phase.PROPAGATED, Action.NONE)
    assert done.record.propagated == t2

    # Not before the overlap.
    early = _step(
        done.record, t2 + timedelta(minutes=59), login=A, password=NEW, can_login=both, propagated=True
    )
    assert early.action is Action.NONE
    due = _step(done.record, t2 + POLICY.overlap, login=A, password=NEW, can_login=both, propagated=True)
    assert due.action is Action.REVOKE
    assert db_logins.login_of(due.record.previous_kid or "") == ROLE

    retired = {ROLE: False, A: True, B: False}
    after = _step(due.record, t2 + POLICY.overlap, login=A, password=NEW, can_login=retired, propagated=True)
    assert after.record.phase is Phase.REVOKED
    assert any(f"database login {_id(ROLE, OLD)} revoked" in e for e in after.events)
    assert after.action is Action.NONE


def test_the_next_rotation_gives_the_other_login_a_password_on_schedule() -> None:
    settled = Record(
        Phase.REVOKED, _id(A, OLD), _id(ROLE, "x"), T0, T0 + POLICY.interval, "requested", T0, T0
    )
    can_login = {ROLE: False, A: True, B: False}
    quiet = _step(
        settled, T0 + timedelta(days=89), login=A, password=OLD, can_login=can_login, propagated=True
    )
    assert quiet.action is Action.NONE
    due = _step(settled, T0 + POLICY.interval, login=A, password=OLD, can_login=can_login, propagated=True)
    assert due.action is Action.ISSUE
    assert due.record.kid == _id(B, NEW)
    assert due.record.previous_kid == _id(A, OLD)
    assert due.record.reason == "scheduled"


def test_a_restart_after_the_secret_was_written_takes_up_its_password_without_a_second() -> None:
    settled = Record(Phase.PROPAGATED, _id(ROLE, OLD), None, T0, T0 + POLICY.interval, "initial", T0)
    # The Secret names login a with the new password; the status record never learnt of it.
    found = _step(
        settled,
        T0 + timedelta(minutes=3),
        login=A,
        password=NEW,
        can_login={ROLE: True, A: True, B: False},
        request="drill",
    )
    assert found.action is Action.NONE
    assert (found.record.phase, found.record.kid) == (Phase.ISSUED, _id(A, NEW))
    assert found.record.previous_kid == _id(ROLE, OLD)
    assert found.record.reason == "adopted"
    assert found.request_handled


@pytest.mark.parametrize("propagated", [False, True])
def test_never_revoked_before_propagated(propagated: bool) -> None:
    issued = Record(Phase.ISSUED, _id(B, NEW), _id(A, OLD), T0, T0 + POLICY.interval, "requested")
    later = T0 + timedelta(days=30)
    plan = _step(
        issued, later, login=B, password=NEW, can_login={ROLE: False, A: True, B: True}, propagated=propagated
    )
    assert plan.action is Action.NONE
    assert plan.record.phase is (Phase.PROPAGATED if propagated else Phase.ISSUED)


def test_a_login_that_logs_in_once_the_rotation_settled_is_a_stray() -> None:
    settled = Record(Phase.REVOKED, _id(B, NEW), _id(A, OLD), T0, T0 + POLICY.interval, "requested", T0, T0)
    assert db_logins.strays(settled, _id(B, NEW), {ROLE: False, A: True, B: True}) == (A,)
    assert db_logins.strays(settled, _id(B, NEW), {ROLE: False, A: False, B: True}) == ()
    issued = Record(Phase.ISSUED, _id(B, NEW), _id(A, OLD), T0, T0 + POLICY.interval, "requested")
    assert db_logins.strays(issued, _id(B, NEW), {ROLE: False, A: True, B: True}) == ()


def test_a_previous_login_that_no_longer_logs_in_is_not_counted() -> None:
    issued = Record(Phase.ISSUED, _id(B, NEW), _id(A, OLD), T0, T0 + POLICY.interval, "requested")
    assert db_logins.live_ids(issued, _id(B, NEW), {A: True, B: True}) == {_id(B, NEW), _id(A, OLD)}
    assert db_logins.live_ids(issued, _id(B, NEW), {A: False, B: True}) == {_id(B, NEW)}
    assert db_logins.live_ids(None, _id(A, OLD), {A: True, B: True}) == {_id(A, OLD)}
