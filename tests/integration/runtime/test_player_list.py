"""The list of players: one statement checks the user and reads the page (db/user_pages.py), answered
before FastAPI routes the request when it is well-formed (api/fast_lists.py) and by the route
otherwise. Both answer alike; the user's state in the database counts from the next request on."""

from __future__ import annotations

import psycopg
import pytest

from club_runtime.core.roles import Role
from tests.integration.runtime.conftest import Club

# A query string the fast path leaves to the route (not canonical), beside one it answers itself.
ROUTED = "limit=050&offset=00"
FAST = "limit=50&offset=0"


def _add_players(club: Club, count: int) -> None:
    # Names to escape in JSON; creation times with and without microseconds (pydantic writes both).
    with psycopg.connect(club.dsn) as conn:
        conn.execute(
            "INSERT INTO players (first_name, last_name, position, preferred_foot, birth_date, "
            "guardian_name, guardian_email, created_at) SELECT 'P' || i, "
            "E'N\\u00fc \"q\" \\\\ \\u0001 ' || lpad(i::text, 3, '0'), 'MF', 'both', "
            "date '1990-01-01' + i, 'G', 'g@club.test', CASE WHEN i %% 2 = 0 "
            "THEN timestamptz '2025-01-02 03:04:05Z' ELSE timestamptz '2025-01-02 03:04:05.12Z' END "
            "FROM generate_series(1, %s) AS i",
            [count],
        )


def test_the_fast_path_and_the_route_answer_alike(two_clubs: tuple[Club, Club]) -> None:
    a, b = two_clubs
    _add_players(a, 60)
    _add_players(b, 5)
    team = a.client.get("/api/v1/teams", headers=a.auth(Role.COACH)).json()["items"][0]["id"]
    for role in (Role.OWNER, Role.COACH, Role.PLAYER, Role.PARENT):
        for extra in ("", "&position=GK", f"&team_id={team}", "&position=MF&offset=50"):
            fast = a.client.get(f"/api/v1/players?{FAST}{extra}", headers=a.auth(role))
            routed = a.client.get(f"/api/v1/players?{ROUTED}{extra}", headers=a.auth(role))
            assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
            assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
            assert fast.content == routed.content, (role, extra)
    page = a.client.get(f"/api/v1/players?{FAST}", headers=a.auth(Role.COACH)).json()
    assert len(page["items"]) == 50
    assert page["next_offset"] == 50
    rest = a.client.get("/api/v1/players?offset=50", headers=a.auth(Role.COACH)).json()
    assert len(rest["items"]) == 11
    assert rest["next_offset"] is None
    ids = {p["id"] for p in page["items"] + rest["items"]}
    assert len(ids) == 61
    mine = a.client.get("/api/v1/players", headers=a.auth(Role.PLAYER)).json()["items"]
    assert [p["id"] for p in mine] == [str(a.player_id)]


@pytest.mark.parametrize("query", ["", FAST, ROUTED])
def test_a_deactivated_or_signed_out_user_is_refused(two_clubs: tuple[Club, Club], query: str) -> None:
    a, _ = two_clubs
    path = f"/api/v1/players?{query}"
    headers = a.auth(Role.COACH)
    assert a.client.get(path, headers=headers).status_code == 200
    with psycopg.connect(a.dsn) as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", [a.users[Role.COACH]])
    refused = a.client.get(path, headers=headers)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "the token's user no longer exists or was signed out"}
    assert refused.headers["www-authenticate"] == "Bearer"
    with psycopg.connect(a.dsn) as conn:
        conn.execute(
            "UPDATE users SET active = true, token_version = token_version + 1 WHERE id = %s",
            [a.users[Role.COACH]],
        )
    assert a.client.get(path, headers=headers).status_code == 401


def test_a_role_change_counts_from_the_next_request(two_clubs: tuple[Club, Club]) -> None:
    a, _ = two_clubs
    _add_players(a, 3)
    headers = a.auth(Role.COACH)
    assert len(a.client.get("/api/v1/players", headers=headers).json()["items"]) == 4
    with psycopg.connect(a.dsn) as conn:
        conn.execute(
            "UPDATE users SET role = 'parent', player_id = %s WHERE id = %s",
            [a.player_id, a.users[Role.COACH]],
        )
    # The token still says coach; the database says parent of one player.
    items = a.client.get("/api/v1/players", headers=headers).json()["items"]
    assert [p["id"] for p in items] == [str(a.player_id)]
    with psycopg.connect(a.dsn) as conn:
        conn.execute("UPDATE users SET player_id = NULL WHERE id = %s", [a.users[Role.COACH]])
    assert a.client.get("/api/v1/players", headers=headers).json()["items"] == []


def test_what_the_fast_path_declines_gets_the_routes_answer(
    two_clubs: tuple[Club, Club],
) -> None:
    a, b = two_clubs
    assert a.client.get("/api/v1/players").status_code == 401
    assert a.client.get("/api/v1/players", headers={"Authorization": "Basic x"}).status_code == 401
    assert a.client.get("/api/v1/players", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    other_club = a.client.get("/api/v1/players", headers=b.auth(Role.OWNER))
    assert other_club.status_code == 401
    headers = a.auth(Role.OWNER)
    for query, field in (("postion=GK", "postion"), ("limit=0", "limit"), ("limit=201", "limit")):
        got = a.client.get(f"/api/v1/players?{query}", headers=headers)
        assert got.status_code == 422, got.text
        assert [e["loc"] for e in got.json()["detail"]] == [["query", field]]
    assert a.client.get("/api/v1/players?position=XX", headers=headers).status_code == 422
    assert a.client.get("/api/v1/players?team_id=nope", headers=headers).status_code == 422
    text = a.client.get("/metrics").text
    assert 'club_api_requests_total{method="GET",route="/api/v1/players",status_class="2xx"}' in text
    assert 'club_api_requests_total{method="GET",route="/api/v1/players",status_class="4xx"}' in text
