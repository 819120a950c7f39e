"""The ownership rule: what a Club may use, what it may take back, and what stays another's."""

from __future__ import annotations

import pytest

from club_operator import ownership
from club_operator.ownership import Found, Owner

ME = Owner("team", "riverside", "uid-2", "uid-2")
EARLIER = Owner("team", "riverside", "uid-1", "uid-1")  # same namespace/name, deleted with Retain
OTHER = Owner("other", "harbour", "uid-9", "uid-9")


def _judge(found: Found, *, adopt: bool = False) -> ownership.Claim:
    return ownership.judge("role", "club_team_riverside", found, ME, adopt=adopt, adopt_field="database")


def test_a_missing_resource_is_free_and_gets_the_clubs_record() -> None:
    assert _judge(Found(False)) == ownership.Claim(ME, write=True)


def test_the_clubs_own_resource_is_used_as_recorded() -> None:
    adopted = Owner("team", "riverside", "uid-2", "uid-1")
    assert _judge(Found(True, adopted)) == ownership.Claim(adopted, write=False)


def test_another_clubs_resource_is_a_conflict_even_with_adopt() -> None:
    for adopt in (False, True):
        with pytest.raises(ownership.Conflict, match="club_team_riverside belongs to another Club"):
            _judge(Found(True, OTHER), adopt=adopt)


def test_an_unrecorded_resource_is_a_conflict_unless_the_server_shows_it_is_the_clubs() -> None:
    with pytest.raises(ownership.Conflict, match="records no owning Club"):
        _judge(Found(True, None))
    assert _judge(Found(True, None, ours_unrecorded=True)) == ownership.Claim(ME, write=True)


def test_a_retained_resource_is_taken_back_only_with_adopt_keeping_its_tenant_id() -> None:
    with pytest.raises(ownership.Conflict, match=r"spec\.adopt\.database: true"):
        _judge(Found(True, EARLIER))
    claim = _judge(Found(True, EARLIER), adopt=True)
    assert claim == ownership.Claim(Owner("team", "riverside", "uid-2", "uid-1"), write=True)


def test_records_round_trip_through_comments_and_tags() -> None:
    assert Owner.from_comment(ME.to_comment()) == ME
    assert Owner.from_tags(ME.to_tags()) == ME
    assert Owner.from_comment("a comment someone wrote") is None
    assert Owner.from_comment('{"namespace": "team", "name": "x", "uid": "u", "tenant": "t"}') is None
    assert Owner.from_tags({"footballclub.io/uid": "u"}) is None
