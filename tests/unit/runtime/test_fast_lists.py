"""What the fast path of the players list answers itself and what it leaves to the route: only
well-formed requests (known parameters, once each, in canonical form; a Bearer token) are its own."""

from __future__ import annotations

import uuid

import pytest

from club_runtime.api import deps, fast_lists
from club_runtime.api.deps import Page
from club_runtime.api.routes.players import Position
from club_runtime.db import user_pages

TEAM = uuid.UUID("0b9f3c1e-8d0a-4c55-9a51-6f1f2a3b4c5d")


def test_canonical_queries_are_parsed() -> None:
    parse = fast_lists.parse_query
    assert parse(b"") == fast_lists.ListQuery(Page(deps.PAGE_SIZE, 0), None, None)
    assert parse(b"limit=200&offset=1000000") == fast_lists.ListQuery(Page(200, 1_000_000), None, None)
    assert parse(f"offset=50&team_id={TEAM}&position=GK".encode()) == fast_lists.ListQuery(
        Page(deps.PAGE_SIZE, 50), TEAM, Position.GK
    )


@pytest.mark.parametrize(
    "query",
    [
        b"limit=050",
        b"limit=+5",
        b"limit=%EF%BC%95",  # a full-width digit
        b"limit=0",
        b"limit=201",
        b"offset=-1",
        b"offset=1000001",
        b"limit=",
        b"limit=5&limit=6",
        b"postion=GK",
        b"position=gk",
        b"team_id=nope",
        f"team_id={str(TEAM).upper()}".encode(),
        f"team_id={TEAM.hex}".encode(),
        b"team_id=",
    ],
)
def test_anything_else_goes_to_the_route(query: bytes) -> None:
    assert fast_lists.parse_query(query) is None


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"headers": list(headers)}


def test_bearer_tokens_are_read_as_http_bearer_reads_them() -> None:
    assert fast_lists.bearer_token(_scope((b"authorization", b"Bearer abc"))) == "abc"
    assert fast_lists.bearer_token(_scope((b"authorization", b"bearer  abc "))) == "abc"
    assert fast_lists.bearer_token(_scope((b"host", b"x"), (b"authorization", b"Bearer a"))) == "a"
    assert fast_lists.bearer_token(_scope()) is None
    assert fast_lists.bearer_token(_scope((b"authorization", b"Basic abc"))) is None
    assert fast_lists.bearer_token(_scope((b"authorization", b"Bearer"))) is None
    assert fast_lists.bearer_token(_scope((b"authorization", b"Bearer "))) is None


def test_the_statement_checks_the_user_and_limits_player_bound_roles() -> None:
    shape = user_pages.Shape(
        table="players", columns=("id", "last_name"), order_by=("last_name", "id"), bound_column="id"
    )
    text = user_pages._statement(shape, ("position",)).decode()
    assert "WHERE id = %(user_id)s AND active AND token_version = %(token_version)s" in text
    assert '"position" = %(w_position)s AND (me.role <> ALL(%(bound_roles)s) OR "id" = me.player_id)' in text
    assert user_pages._statement(shape, ("position",)) is user_pages._statement(shape, ("position",))
