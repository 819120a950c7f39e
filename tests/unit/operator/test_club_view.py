"""A Club as its VideoJobs see it, parsed from the Club's body (pure)."""

from __future__ import annotations

from typing import Any

from club_operator import club_view


def body(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    ready = {"conditions": [{"type": "Ready", "status": "True", "reason": "AllReady", "message": ""}]}
    return {
        "metadata": {"name": "riverside-fc", "uid": "u-1"},
        "spec": spec,
        "status": {**ready, **(status or {})},
    }


def test_a_club_is_seen_not_ready_while_suspended_and_with_its_bucket_and_queue() -> None:
    view = club_view.parse("demo", body({"displayName": "Riverside", "suspend": True}), "clubs")
    assert view is not None
    assert (view.ready, view.not_ready_message) == (False, "the Club is suspended")
    assert view.video_queue == "demo.riverside-fc.video"
    assert view.bucket.startswith("club-")
    assert club_view.parse("demo", body({"displayName": "Riverside"}), "clubs").ready  # type: ignore[union-attr]
    assert club_view.parse("demo", body({"displayName": "Riverside", "workers": "many"}), "clubs") is None


def test_the_club_id_is_the_tenant_the_club_holds() -> None:
    """The uid, unless the Club took back an earlier Club's data (status.tenantId): the worker's
    objects and rows are keyed by the tenant."""
    assert club_view.parse("demo", body({"displayName": "Riverside"}), "clubs").uid == "u-1"  # type: ignore[union-attr]
    adopted = club_view.parse("demo", body({"displayName": "Riverside"}, {"tenantId": "u-0"}), "clubs")
    assert adopted is not None
    assert adopted.uid == "u-0"


def test_a_club_without_a_ready_condition_says_why_it_is_not_ready() -> None:
    status = {"conditions": [{"type": "Ready", "status": "False", "reason": "DependenciesNotReady"}]}
    view = club_view.parse("demo", body({"displayName": "Riverside"}, status), "clubs")
    assert view is not None
    assert (view.ready, view.not_ready_message) == (False, "DependenciesNotReady")
