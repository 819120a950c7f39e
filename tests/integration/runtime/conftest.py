"""Two clubs in one migrated database, each with its own login role, its own API app (TestClient,
lifespan included) and a user of every role; tokens are minted with the club's key set."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from club_devstack.stack import StackInfo
from club_runtime.api.app import create_app
from club_runtime.core import security
from club_runtime.core.roles import Role
from club_runtime.db import migrate, tenancy
from club_runtime.settings import Settings

PASSWORD = "correct horse battery staple"
_HASH = security.hash_password(PASSWORD)


@dataclass
class Club:
    club_id: str
    role_name: str
    dsn: str
    settings: Settings
    client: TestClient
    users: dict[Role, uuid.UUID] = field(default_factory=dict)
    player_id: uuid.UUID | None = None

    def token(self, role: Role, *, ttl: timedelta = timedelta(minutes=5), kind: Any = "access") -> str:
        keys = security.KeySet.parse(self.settings.jwt_keys.get_secret_value())
        claims = security.Claims(self.users[role], self.club_id, role.value, kind, 0)
        return security.issue_token(keys, claims=claims, ttl=ttl)

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


def key_set(*kids: str) -> str:
    return json.dumps({"active": kids[0], "keys": {kid: secrets.token_urlsafe(32) for kid in kids}})


def club_settings(
    stack: StackInfo, dsn: str, club_id: str, redis_url: str, bucket: str, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "club_id": club_id,
        "club_slug": f"club-{club_id[:8]}",
        "database_url": SecretStr(dsn),
        "database_pool_max": 4,
        "redis_url": SecretStr(redis_url),
        "s3_endpoint_url": stack.minio.endpoint,
        "s3_bucket": bucket,
        "s3_access_key_id": SecretStr(stack.minio.access_key),
        "s3_secret_access_key": SecretStr(stack.minio.secret_key),
        "jwt_keys": SecretStr(extra.pop("jwt_keys", key_set("k1"))),
    }
    return Settings(**(values | extra))


def provision(stack: StackInfo, admin_dsn: str, slug: str) -> tuple[str, str, str]:
    club_id = str(uuid.uuid4())
    role = f"club_{slug}_{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(16)
    tenancy.provision_club(admin_dsn, club_id, slug, role, password)
    dbname = psycopg.conninfo.conninfo_to_dict(admin_dsn)["dbname"]
    return club_id, role, stack.postgres.dsn(str(dbname), user=role, password=password)


def seed(club: Club) -> None:
    """A user of every role, a player linked to the player and parent accounts, and one row in every
    tenant table, all written as the club's own role."""
    with psycopg.connect(club.dsn) as conn:
        pid = conn.execute(
            "INSERT INTO players (first_name, last_name, position, preferred_foot, birth_date) "
            "VALUES ('Ada', 'Keeper', 'GK', 'left', '1999-04-01') RETURNING id"
        ).fetchone()
        assert pid is not None
        club.player_id = pid[0]
        for role in Role:
            linked = club.player_id if role in (Role.PLAYER, Role.PARENT) else None
            row = conn.execute(
                "INSERT INTO users (email, full_name, password_hash, role, player_id) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                [f"{role.value}@club.test", role.value.title(), _HASH, role.value, linked],
            ).fetchone()
            assert row is not None
            club.users[role] = row[0]
        conn.execute(
            "INSERT INTO refresh_families (user_id, current_jti, expires_at) "
            "VALUES (%s, gen_random_uuid(), now() + interval '1 day')",
            [club.users[Role.OWNER]],
        )
        season = conn.execute(
            "INSERT INTO seasons (name, starts_on, ends_on) VALUES ('2024', '2024-07-01', "
            "'2025-06-30') RETURNING id"
        ).fetchone()
        assert season is not None
        team = conn.execute(
            "INSERT INTO teams (name, category, season_id) VALUES ('First', 'first team', %s) RETURNING id",
            [season[0]],
        ).fetchone()
        assert team is not None
        conn.execute("UPDATE players SET team_id = %s", [team[0]])
        session = conn.execute(
            "INSERT INTO training_sessions (title, starts_at, duration_min, team_id) "
            "VALUES ('Drills', '2024-09-02 10:00Z', 90, %s) RETURNING id",
            [team[0]],
        ).fetchone()
        assert session is not None
        conn.execute(
            "INSERT INTO attendance (session_id, player_id, status, minutes, rpe) VALUES "
            "(%s, %s, 'present', 90, 6)",
            [session[0], club.player_id],
        )
        conn.execute(
            "INSERT INTO wellness_entries (player_id, day, sleep_quality, fatigue, soreness, stress, mood) "
            "VALUES (%s, '2024-09-02', 4, 2, 2, 2, 4)",
            [club.player_id],
        )
        match = conn.execute(
            "INSERT INTO matches (opponent, home, kickoff, team_id) VALUES ('Rivals', true, "
            "'2024-09-07 15:00Z', %s) "
            "RETURNING id",
            [team[0]],
        ).fetchone()
        assert match is not None
        conn.execute(
            "INSERT INTO match_stats (match_id, player_id, minutes, goals, rpe) VALUES (%s, %s, 90, 1, 8)",
            [match[0], club.player_id],
        )
        conn.execute(
            "INSERT INTO injuries (player_id, occurred_on, body_part, severity) VALUES (%s, "
            "'2024-09-08', 'knee', 'minor')",
            [club.player_id],
        )
        conn.execute("INSERT INTO videos (title, source_key) VALUES ('Match', 'clubs/x/videos/y/source')")


@pytest.fixture
def migrated(database: str) -> str:
    migrate.migrate(database)
    return database


@pytest.fixture
def make_club(stack: StackInfo, migrated: str, redis_url: str) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(slug: str, *, bucket: str = "no-bucket", **extra: Any) -> Club:
        club_id, role, dsn = provision(stack, migrated, slug)
        settings = club_settings(stack, dsn, club_id, redis_url, bucket, **extra)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        club = Club(club_id=club_id, role_name=role, dsn=dsn, settings=settings, client=client)
        seed(club)
        return club

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def two_clubs(make_club: Any) -> tuple[Club, Club]:
    return make_club("a"), make_club("b")
