"""A Club's status is compared with the newest one known: a stale body handed in by a lagging
watch never makes the writer rewrite the status (nor post its Events again)."""

from __future__ import annotations

from typing import Any

from club_operator import status_writer
from club_operator.club import ClubObject
from club_operator.status import Transition
from club_operator.status_writer import Event


def _club(uid: str) -> ClubObject:
    return ClubObject(namespace="ns", name=f"club-{uid}", uid=uid, generation=1, spec={})


def _body(version: str, phase: str, uid: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "resourceVersion": version}, "status": {"phase": phase}}


def test_a_stale_body_gives_way_to_the_status_written_last() -> None:
    status_writer.remember(_club("u-1"), 20, {"phase": "Ready"}, None)
    assert status_writer.current_status("u-1", _body("15", "Provisioning", "u-1")) == (20, {"phase": "Ready"})


def test_a_newer_body_wins() -> None:
    status_writer.remember(_club("u-2"), 20, {"phase": "Ready"}, None)
    assert status_writer.current_status("u-2", _body("25", "Degraded", "u-2")) == (25, {"phase": "Degraded"})


def test_a_forgotten_club_is_read_from_its_body() -> None:
    status_writer.remember(_club("u-3"), 9, {"phase": "Ready"}, None)
    status_writer.forget(_club("u-3"))
    assert status_writer.current_status("u-3", _body("3", "Provisioning", "u-3")) == (
        3,
        {"phase": "Provisioning"},
    )
    assert status_writer.waiting("ns", "club-u-3") is None


def _moved(type_: str, status: str, reason: str, message: str = "", warning: bool = False) -> Transition:
    return Transition(type_, status, reason, message, warning)


def test_a_new_clubs_first_report_is_two_events_whatever_it_wrote() -> None:
    changes = [
        ("database", "created database d"),
        ("role", "provisioned role r"),
        ("Secret", "created Secret a"),
        ("Secret", "created Secret b"),
        ("bucket", "created bucket b with its lifecycle"),
    ]
    moved = [
        _moved("DatabaseReady", "True", "Provisioned"),
        _moved("WorkloadsReady", "False", "RollingOut", "0/3 pods available"),
        _moved("Ready", "False", "DependenciesNotReady", "waiting for WorkloadsReady"),
    ]
    assert status_writer.events(changes, moved, None) == [
        Event(
            False,
            "Provisioned",
            "created database d; provisioned role r; created Secret a; created Secret b;"
            " created bucket b with its lifecycle",
        ),
        # Ready first, whose reason the Event takes.
        Event(
            False,
            "DependenciesNotReady",
            "Ready False: waiting for WorkloadsReady; DatabaseReady True;"
            " WorkloadsReady False: 0/3 pods available",
        ),
    ]


def test_a_problem_is_a_warning_of_its_own_with_its_reason() -> None:
    moved = [
        _moved("DatabaseReady", "False", "ServerUnavailable", "connection refused", warning=True),
        _moved("StorageReady", "True", "Provisioned"),
    ]
    assert status_writer.events([], moved, "spec.api.replicas: must be at least 1") == [
        Event(False, "Provisioned", "StorageReady True"),
        Event(True, "ServerUnavailable", "DatabaseReady False: connection refused"),
        Event(True, "InvalidSpec", "spec.api.replicas: must be at least 1"),
    ]


def test_nothing_moved_nothing_written_no_event() -> None:
    assert status_writer.events([], [], None) == []


def test_rotations_and_revocations_are_events_of_their_own() -> None:
    changes = [
        ("secret", "wrote Secret a-redis"),
        ("rotation", "issued Redis password p2 (requested: drill)"),
        ("revocation", "revoked credentials (leak): JWT signing key k9 alone"),
        ("rotation", "JWT signing key k9 propagated: every API pod signs with it"),
    ]
    assert [e.message for e in status_writer.events(changes, [], None)] == [
        "wrote Secret a-redis",
        "issued Redis password p2 (requested: drill); JWT signing key k9 propagated: every API pod signs "
        "with it",
        "revoked credentials (leak): JWT signing key k9 alone",
    ]
