"""A Club's status is compared with the newest one known: a stale body handed in by a lagging
watch never makes the writer rewrite the status (nor post its Events again)."""

from __future__ import annotations

from typing import Any

from club_operator import status_writer
from club_operator.club import ClubObject


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
