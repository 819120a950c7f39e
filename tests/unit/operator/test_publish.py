"""Which status a reconcile compares with: kopf may hand it a Club older than the status this
process already wrote, and comparing with that would write the status and post its Events again."""

from __future__ import annotations

from typing import Any

from club_operator import publish


def _club(version: str, phase: str, uid: str = "u-1") -> dict[str, Any]:
    return {"metadata": {"uid": uid, "resourceVersion": version}, "status": {"phase": phase}}


def test_a_body_older_than_our_last_write_gives_way_to_it() -> None:
    publish.remember(_club("20", "Ready"))
    assert publish.current_status(_club("15", "Provisioning")) == {"phase": "Ready"}


def test_a_body_newer_than_our_last_write_is_the_truth() -> None:
    publish.remember(_club("20", "Ready", uid="u-2"))
    assert publish.current_status(_club("25", "Degraded", uid="u-2")) == {"phase": "Degraded"}


def test_without_a_write_of_ours_the_body_is_the_truth_and_forget_drops_ours() -> None:
    assert publish.current_status(_club("3", "Provisioning", uid="u-3")) == {"phase": "Provisioning"}
    publish.remember(_club("9", "Ready", uid="u-3"))
    publish.forget("u-3")
    assert publish.current_status(_club("3", "Provisioning", uid="u-3")) == {"phase": "Provisioning"}
