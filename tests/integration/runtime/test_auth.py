"""Login, refresh, lockout; tokens signed by a rotated-out key, expired or from another club refused;
role checks per route."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from club_runtime.api.routes.auth import LOGIN_REFUSED
from club_runtime.core import security
from club_runtime.core.roles import Role
from tests.integration.runtime.conftest import PASSWORD, Club


def login(club: Club, email: str, password: str) -> Any:
    return club.client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_login_me_refresh(two_clubs: tuple[Club, Club]) -> None:
    a, _ = two_clubs
    got = login(a, "Coach@Club.test", PASSWORD)
    assert got.status_code == 200, got.text
    tokens = got.json()
    me = a.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["role"] == "coach"
    header = security.jwt.get_unverified_header(tokens["access_token"])
    assert header["kid"] == "k1"
    refreshed = a.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    # an access token is no refresh token
    bad = a.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert bad.status_code == 401


def test_wrong_password_and_lockout(two_clubs: tuple[Club, Club]) -> None:
    a, _ = two_clubs
    for _ in range(a.settings.login_max_failures - 1):
        assert login(a, "coach@club.test", "wrong").status_code == 401
    # one short of the limit, the right password gets in and the count starts again
    assert login(a, "coach@club.test", PASSWORD).status_code == 200
    for _ in range(a.settings.login_max_failures):
        assert login(a, "coach@club.test", "wrong").status_code == 401
    locked = login(a, "coach@club.test", PASSWORD)
    assert locked.status_code == 401
    # locked, wrong password, unknown email: one answer, which tells none of them apart
    wrong = login(a, "coach@club.test", "wrong")
    unknown = login(a, "nobody@club.test", PASSWORD)
    assert locked.json() == wrong.json() == unknown.json() == {"detail": LOGIN_REFUSED}
    assert unknown.status_code == wrong.status_code == 401


def test_token_of_another_club_is_refused(two_clubs: tuple[Club, Club]) -> None:
    a, b = two_clubs
    # a token of club B, even signed with a key club A also holds, is refused by club A's API
    token_b = b.token(Role.OWNER)
    assert a.client.get("/api/v1/players", headers={"Authorization": f"Bearer {token_b}"}).status_code == 401
    a.client.app.state.services.keys = security.KeySet.parse(b.settings.jwt_keys.get_secret_value())
    same_key = a.client.get("/api/v1/players", headers={"Authorization": f"Bearer {token_b}"})
    assert same_key.status_code == 401
    assert "another club" in same_key.json()["detail"]


def test_expired_and_unknown_key_tokens_are_refused_previous_key_accepted(make_club: Any) -> None:
    keys_v1 = json.dumps({"active": "old", "keys": {"old": "o" * 40}})
    club = make_club("k", jwt_keys=keys_v1)
    old_token = club.token(Role.OWNER)
    expired = club.token(Role.OWNER, ttl=timedelta(seconds=-5))
    assert (
        club.client.get("/api/v1/players", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    )

    # rotation: new active key, the previous kept in the set -> old tokens still work
    services = club.client.app.state.services
    rotated = json.dumps({"active": "new", "keys": {"new": "n" * 40, "old": "o" * 40}})
    services.keys = security.KeySet.parse(rotated)
    club.settings.jwt_keys = SecretStr(rotated)
    ok = club.client.get("/api/v1/players", headers={"Authorization": f"Bearer {old_token}"})
    assert ok.status_code == 200
    new_token = club.token(Role.OWNER)
    assert security.jwt.get_unverified_header(new_token)["kid"] == "new"

    # the previous key removed from the set: its tokens are refused
    services.keys = security.KeySet.parse(json.dumps({"active": "new", "keys": {"new": "n" * 40}}))
    refused = club.client.get("/api/v1/players", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code == 401
    assert "key" in refused.json()["detail"]
    assert (
        club.client.get("/api/v1/players", headers={"Authorization": f"Bearer {new_token}"}).status_code
        == 200
    )


# (method, path, roles allowed) for a representative route of every resource.
ROLE_MATRIX = [
    ("GET", "/api/v1/users", {Role.OWNER, Role.ADMIN}),
    ("GET", "/api/v1/sessions", {Role.OWNER, Role.ADMIN, Role.COACH, Role.ANALYST, Role.MEDICAL}),
    ("GET", "/api/v1/alerts", {Role.OWNER, Role.ADMIN, Role.COACH, Role.ANALYST, Role.MEDICAL}),
    ("GET", "/api/v1/injuries", {Role.MEDICAL, Role.PLAYER}),
    ("GET", "/api/v1/players", set(Role)),
    ("GET", "/api/v1/videos", set(Role)),
    ("POST", "/api/v1/seasons", {Role.OWNER, Role.ADMIN}),
    ("POST", "/api/v1/teams", {Role.OWNER, Role.ADMIN, Role.COACH}),
    ("POST", "/api/v1/injuries", {Role.MEDICAL}),
    ("POST", "/api/v1/matches", {Role.OWNER, Role.ADMIN, Role.COACH, Role.ANALYST}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ROLE_MATRIX)
def test_role_checks(two_clubs: tuple[Club, Club], method: str, path: str, allowed: set[Role]) -> None:
    a, _ = two_clubs
    assert a.client.request(method, path).status_code == 401
    for role in Role:
        got = a.client.request(method, path, headers=a.auth(role), json={})
        if role in allowed:
            assert got.status_code not in (401, 403), (role, got.text)
        else:
            assert got.status_code == 403, (role, got.text)


def test_player_sees_only_own_record_and_medical_data_is_restricted(two_clubs: tuple[Club, Club]) -> None:
    a, _ = two_clubs
    other = a.client.post(
        "/api/v1/players",
        headers=a.auth(Role.COACH),
        json={
            "first_name": "Bo",
            "last_name": "Striker",
            "position": "FW",
            "preferred_foot": "right",
            "birth_date": "2000-01-01",
        },
    )
    assert other.status_code == 201, other.text
    mine = a.client.get("/api/v1/players", headers=a.auth(Role.PLAYER)).json()["items"]
    assert [p["id"] for p in mine] == [str(a.player_id)]
    assert (
        a.client.get(f"/api/v1/players/{other.json()['id']}", headers=a.auth(Role.PLAYER)).status_code == 404
    )
    assert len(a.client.get("/api/v1/players", headers=a.auth(Role.COACH)).json()["items"]) == 2
    own_injuries = a.client.get("/api/v1/injuries", headers=a.auth(Role.PLAYER)).json()["items"]
    assert len(own_injuries) == 1
    for role in (Role.OWNER, Role.ADMIN, Role.COACH, Role.PARENT):
        assert a.client.get("/api/v1/injuries", headers=a.auth(role)).status_code == 403
        export = a.client.get(f"/api/v1/players/{a.player_id}/export", headers=a.auth(role))
        if export.status_code == 200:
            assert export.json()["injuries"] is None
    own = a.client.get(f"/api/v1/players/{a.player_id}/export", headers=a.auth(Role.PLAYER)).json()
    assert own["medical_records_included"] is True
    assert len(own["injuries"]) == 1
