"""Status is built from a reconcile's outcome: Ready summarises the other conditions, transition
times move only when a status changes, and an unchanged outcome yields nothing to write."""

from __future__ import annotations

from club_operator import conditions, status
from club_operator.conditions import Condition, Reason, Type
from club_operator.outcome import Outcome

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def _all_ok() -> Outcome:
    out = Outcome()
    for type_ in conditions.READY_REQUIRES:
        out.condition(type_, True, Reason.PROVISIONED, "ok")
    out.fields["databaseName"] = "clubs"
    return out


def _cond(built: dict[str, object], type_: Type) -> dict[str, object]:
    found = conditions.find(built["conditions"], type_)  # type: ignore[arg-type]
    assert found is not None
    return found


def test_all_conditions_true_make_the_club_ready() -> None:
    built = status.build_status({}, _all_ok(), generation=3, now=T0)
    assert built["phase"] == "Ready"
    assert built["observedGeneration"] == 3
    assert _cond(built, Type.READY)["status"] == "True"
    assert _cond(built, Type.READY)["observedGeneration"] == 3


def test_an_unchanged_outcome_writes_nothing_and_keeps_transition_times() -> None:
    first = status.build_status({}, _all_ok(), generation=1, now=T0)
    again = status.build_status(first, _all_ok(), generation=1, now=T1)
    assert status.changed_fields(first, again) == {}
    assert status.transitions(first, again) == []


def test_a_failing_dependency_degrades_a_ready_club_and_names_the_reason() -> None:
    ready = status.build_status({}, _all_ok(), generation=1, now=T0)
    out = _all_ok()
    out.conditions = [c for c in out.conditions if c.type != Type.DATABASE_READY]
    out.failed(Type.DATABASE_READY, Reason.SERVER_UNAVAILABLE, "the PostgreSQL server is unreachable")
    built = status.build_status(ready, out, generation=1, now=T1)
    assert built["phase"] == "Degraded"
    db = _cond(built, Type.DATABASE_READY)
    assert (db["status"], db["reason"], db["lastTransitionTime"]) == ("False", "ServerUnavailable", T1)
    assert _cond(built, Type.STORAGE_READY)["lastTransitionTime"] == T0
    assert "DatabaseReady" in str(_cond(built, Type.READY)["message"])
    moved = {t.type: t for t in status.transitions(ready, built)}
    assert set(moved) == {"DatabaseReady", "Ready"}
    assert moved["DatabaseReady"].warning
    assert moved["Ready"].warning


def test_a_new_club_rolling_out_is_not_a_warning_but_a_problem_beside_it_is() -> None:
    out = _all_ok()
    out.conditions = [c for c in out.conditions if c.type != Type.WORKLOADS_READY]
    out.condition(Type.WORKLOADS_READY, False, Reason.ROLLING_OUT, "club-api: 0/1 pods available")
    moved = {t.type: t for t in status.transitions({}, status.build_status({}, out, 1, T0))}
    assert (moved["WorkloadsReady"].status, moved["WorkloadsReady"].warning) == ("False", False)
    assert (moved["Ready"].status, moved["Ready"].warning) == ("False", False)
    out.conditions = [c for c in out.conditions if c.type != Type.STORAGE_READY]
    out.failed(Type.STORAGE_READY, Reason.SERVER_UNAVAILABLE, "down")
    moved = {t.type: t for t in status.transitions({}, status.build_status({}, out, 1, T0))}
    assert moved["StorageReady"].warning
    assert moved["Ready"].warning
    assert not moved["WorkloadsReady"].warning


def test_a_club_never_ready_is_provisioning_and_a_permanent_error_is_failed() -> None:
    out = Outcome()
    out.failed(Type.STORAGE_READY, Reason.SERVER_UNAVAILABLE, "down")
    assert status.build_status({}, out, generation=1, now=T0)["phase"] == "Provisioning"
    bad = Outcome(permanent="database server: the admin DSN is not a valid PostgreSQL connection string")
    built = status.build_status({}, bad, generation=1, now=T0)
    assert built["phase"] == "Failed"
    assert _cond(built, Type.READY)["reason"] == "InvalidSpec"


def test_ready_lists_every_condition_that_is_not_true() -> None:
    updates = [Condition(Type.SECRETS_READY, True, Reason.GENERATED, "")]
    ready = conditions.ready(updates)
    assert not ready.status
    assert "DatabaseReady, TenantIsolationVerified, StorageReady" in ready.message


def test_a_conflict_is_a_warning_naming_the_resource_and_the_others_carry_on() -> None:
    out = _all_ok()
    out.conditions = [c for c in out.conditions if c.type != Type.STORAGE_READY]
    out.condition(Type.STORAGE_READY, False, Reason.CONFLICT, "bucket media belongs to another Club")
    built = status.build_status({}, out, generation=1, now=T0)
    assert built["phase"] == "Provisioning"  # not Failed: the Club recovers once the bucket is free
    moved = {t.type: t for t in status.transitions({}, built)}
    assert moved["StorageReady"].warning
    assert moved["StorageReady"].reason == "Conflict"
    assert "bucket media" in moved["StorageReady"].message
    assert _cond(built, Type.DATABASE_READY)["status"] == "True"  # the other conditions carry on


def test_only_real_problems_count_as_errors() -> None:
    out = Outcome()
    out.condition(Type.WORKLOADS_READY, False, Reason.ROLLING_OUT, "0/1 pods available")
    out.condition(Type.TENANT_ISOLATION_VERIFIED, False, Reason.PROBE_SKIPPED, "needs the database")
    out.condition(Type.DATABASE_READY, False, Reason.SERVER_UNAVAILABLE, "refused")
    out.condition(Type.STORAGE_READY, True, Reason.PROVISIONED, "ok")
    assert [c.reason for c in status.problems(out)] == [Reason.SERVER_UNAVAILABLE]
    suspended = Outcome()
    suspended.condition(Type.WORKLOADS_READY, False, Reason.SUSPENDED, "scaled to zero")
    assert status.problems(suspended) == []
