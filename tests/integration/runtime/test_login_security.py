"""Login under attack and refresh token rotation, against a club's API served by a real uvicorn
server (requests really race) and the real PostgreSQL.

Parallel wrong passwords each count and lock the account; a locked account answers like a wrong
password after the same argon2 verification (counted by a metric, never timed); a refresh token
rotates on use, and one presented again revokes its family, on every replica of the API."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from club_runtime.api.app import create_app
from club_runtime.api.routes.auth import LOGIN_REFUSED
from club_runtime.core.roles import Role
from tests.integration.runtime.conftest import PASSWORD, Club

PARALLEL = 64
COACH = "coach@club.test"


@dataclass
class Served:
    """A club with a second replica of its API, served by uvicorn on a port of its own."""

    club: Club
    url: str

    def post(self, path: str, body: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=60)

    def counter(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return sample.value
        raise AssertionError(f"{name} not exported")


@pytest.fixture
def served(make_club: Any) -> Iterator[Served]:
    # A pool as large as the parallel logins can use: they race on the account's row, not on the pool.
    club = make_club("login", database_pool_max=16)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(club.settings), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Served(club=club, url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def account(club: Club, email: str) -> tuple[int, bool]:
    """(failed_logins, locked now), read as the club's own role."""
    with psycopg.connect(club.dsn) as conn:
        row = conn.execute(
            "SELECT failed_logins, coalesce(locked_until > now(), false) FROM users WHERE email = %s", [email]
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def parallel_logins(url: str, password: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post("/api/v1/auth/login", json={"email": COACH, "password": password})
                for _ in range(count)
            )
        )


def test_parallel_wrong_passwords_each_count_and_lock_the_account(served: Served) -> None:
    club = served.club
    assert club.settings.login_max_failures < PARALLEL
    verifications = served.counter("club_api_password_verifications_total")

    answers = asyncio.run(parallel_logins(served.url, "wrong", PARALLEL))

    assert [a.status_code for a in answers] == [401] * PARALLEL
    assert all(a.json() == {"detail": LOGIN_REFUSED} for a in answers)
    # every guess was counted (none lost to a race) and the count went past the limit: locked
    assert account(club, COACH) == (PARALLEL, True)
    assert served.counter("club_api_password_verifications_total") == verifications + PARALLEL

    # the right password while locked: the same answer, after the same verification, and counted
    locked = served.post("/api/v1/auth/login", {"email": COACH, "password": PASSWORD})
    assert locked.status_code == 401
    assert locked.json() == {"detail": LOGIN_REFUSED}
    assert served.counter("club_api_password_verifications_total") == verifications + PARALLEL + 1
    assert account(club, COACH) == (PARALLEL + 1, True)

    # an unknown email costs a verification too, against a dummy hash, and gets the same answer
    unknown = served.post("/api/v1/auth/login", {"email": "nobody@club.test", "password": PASSWORD})
    assert (unknown.status_code, unknown.json()) == (401, {"detail": LOGIN_REFUSED})
    assert served.counter("club_api_password_verifications_total") == verifications + PARALLEL + 2

    # other accounts are not locked by it
    assert served.post("/api/v1/auth/login", {"email": "analyst@club.test", "password": PASSWORD}).is_success


def test_lock_runs_out_and_the_count_starts_again(served: Served) -> None:
    club = served.club
    for _ in range(club.settings.login_max_failures):
        assert served.post("/api/v1/auth/login", {"email": COACH, "password": "wrong"}).status_code == 401
    assert account(club, COACH) == (club.settings.login_max_failures, True)
    with psycopg.connect(club.dsn) as conn:
        conn.execute("UPDATE users SET locked_until = now() - interval '1 second' WHERE email = %s", [COACH])
    # a guess after the lock ran out is the first of a new count, not one past the limit
    assert served.post("/api/v1/auth/login", {"email": COACH, "password": "wrong"}).status_code == 401
    assert account(club, COACH) == (1, False)
    assert served.post("/api/v1/auth/login", {"email": COACH, "password": PASSWORD}).status_code == 200
    assert account(club, COACH) == (0, False)


def refresh(client: Any, token: str) -> Any:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def family_revoked(club: Club, token: str) -> bool:
    family = jwt.decode(token, options={"verify_signature": False})["fam"]
    with psycopg.connect(club.dsn) as conn:
        row = conn.execute(
            "SELECT revoked_at IS NOT NULL FROM refresh_families WHERE id = %s", [uuid.UUID(family)]
        ).fetchone()
    assert row is not None
    return bool(row[0])


def test_refresh_rotates_and_reuse_revokes_the_family_on_every_replica(served: Served) -> None:
    club = served.club
    replica = club.client  # the other replica: its own app and pool, the same database
    first = served.post("/api/v1/auth/login", {"email": COACH, "password": PASSWORD}).json()
    other = served.post("/api/v1/auth/login", {"email": COACH, "password": PASSWORD}).json()

    second = refresh(replica, first["refresh_token"])
    assert second.status_code == 200, second.text
    r2 = second.json()["refresh_token"]
    assert r2 != first["refresh_token"]
    third = served.post("/api/v1/auth/refresh", {"refresh_token": r2})
    assert third.status_code == 200, third.text
    newest = third.json()["refresh_token"]
    assert not family_revoked(club, newest)
    reuses = served.counter("club_api_refresh_reuse_total")

    # the first token, already used, comes back (on the other replica): refused, family revoked
    reused = refresh(replica, first["refresh_token"])
    assert reused.status_code == 401
    assert "already used" in reused.json()["detail"]
    assert served.counter("club_api_refresh_reuse_total") == reuses + 1
    assert family_revoked(club, newest)
    # every token of the family is refused from now on, the newest included
    for token in (newest, r2, first["refresh_token"]):
        assert served.post("/api/v1/auth/refresh", {"refresh_token": token}).status_code == 401

    # another login's family is unaffected and keeps rotating
    assert not family_revoked(club, other["refresh_token"])
    rotated = served.post("/api/v1/auth/refresh", {"refresh_token": other["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    assert refresh(replica, rotated.json()["refresh_token"]).status_code == 200


async def parallel_refreshes(url: str, token: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(
            *(client.post("/api/v1/auth/refresh", json={"refresh_token": token}) for _ in range(count))
        )


def test_parallel_refreshes_of_one_token_rotate_it_once(served: Served) -> None:
    tokens = served.post("/api/v1/auth/login", {"email": COACH, "password": PASSWORD}).json()
    answers = asyncio.run(parallel_refreshes(served.url, tokens["refresh_token"], 8))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 7
    # the losers presented a used token: the family is revoked, the winner's new token with it
    winner = next(a for a in answers if a.status_code == 200).json()["refresh_token"]
    assert family_revoked(served.club, winner)
    assert served.post("/api/v1/auth/refresh", {"refresh_token": winner}).status_code == 401


def test_logout_revokes_the_families_and_old_refresh_tokens_are_refused(served: Served) -> None:
    club = served.club
    tokens = served.post("/api/v1/auth/login", {"email": COACH, "password": PASSWORD}).json()
    out = httpx.post(
        f"{served.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert out.status_code == 204
    assert family_revoked(club, tokens["refresh_token"])
    assert served.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 401

    # a refresh token without a family (as issued before rotation) is refused
    familyless = club.token(Role.OWNER, kind="refresh")
    refused = served.post("/api/v1/auth/refresh", {"refresh_token": familyless})
    assert refused.status_code == 401
    assert "log in again" in refused.json()["detail"]
