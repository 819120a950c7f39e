"""The watchdog notices a watch stream that stopped delivering, and counts Clubs by condition."""

from __future__ import annotations

from typing import Any

from club_operator.watchdog import Watchdog, condition_counts, listed_namespaces, pending, serves


def _club(
    name: str, rv: str, generation: int = 1, observed: int | None = 1, ready: str = "True"
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": name, "resourceVersion": rv, "generation": generation},
        "status": {"observedGeneration": observed, "conditions": [{"type": "Ready", "status": ready}]},
    }


def test_a_watch_that_keeps_up_is_never_stalled() -> None:
    dog = Watchdog(grace_sec=30)
    dog.saw("ns", "a", "10")
    assert dog.stalled([_club("a", "10")], now=0) == []
    assert dog.stalled([_club("a", "10")], now=1000) == []


def test_a_change_the_watch_never_delivers_is_a_stall_after_the_grace_period() -> None:
    dog = Watchdog(grace_sec=30)
    dog.saw("ns", "a", "10")
    assert dog.stalled([_club("a", "11")], now=100) == []
    assert dog.stalled([_club("a", "11")], now=125) == []
    assert dog.stalled([_club("a", "11")], now=131) == ["ns/a"]
    dog.saw("ns", "a", "11")
    assert dog.stalled([_club("a", "11")], now=132) == []


def test_a_club_the_watch_never_reported_counts_from_when_it_was_first_listed() -> None:
    dog = Watchdog(grace_sec=5)
    assert dog.stalled([_club("new", "1")], now=0) == []
    assert dog.stalled([_club("new", "1")], now=6) == ["ns/new"]
    assert dog.stalled([], now=7) == []


def test_clubs_by_condition_and_pending_reconciles() -> None:
    listed = [_club("a", "1"), _club("b", "2", ready="False"), _club("c", "3", generation=2, observed=1)]
    counts = condition_counts(listed)
    assert counts[("Ready", "True")] == 2
    assert counts[("Ready", "False")] == 1
    assert pending(listed) == 1


def test_namespace_patterns_decide_which_clubs_the_operator_serves() -> None:
    assert serves("team-a", [])
    assert serves("team-a", ["team-*"])
    assert not serves("other", ["team-*"])
    assert not serves("own-operator-1", ["!own-operator-*"])
    assert serves("team-a", ["!own-operator-*"])


def test_plain_namespaces_are_listed_one_by_one_and_patterns_cluster_wide() -> None:
    # An operator with a Role in each of its namespaces may not LIST Clubs across the cluster.
    assert listed_namespaces(["team-a", "team-b"]) == ("team-a", "team-b")
    assert listed_namespaces([]) == ()
    assert listed_namespaces(["team-*"]) == ()
    assert listed_namespaces(["team-a", "!team-b"]) == ()
