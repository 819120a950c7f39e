"""Bad input gets a 4xx whose message names the field, and writes nothing: wrong types, unknown fields
or query parameters, out-of-range values, and references to records the club does not have. Row counts
of every tenant table are read as the superuser (past row-level security) before and after."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from club_runtime.core.roles import Role
from club_runtime.db import tenancy
from tests.integration.runtime.conftest import Club

PLAYER = {
    "first_name": "Ada",
    "last_name": "Striker",
    "position": "FW",
    "preferred_foot": "right",
    "birth_date": "1998-05-04",
}
WELLNESS = {"day": "2024-09-03", "sleep_quality": 4, "fatigue": 2, "soreness": 2, "stress": 2, "mood": 4}


def row_counts(admin_dsn: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(admin_dsn) as conn:
        for table in tenancy.TENANT_TABLES:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
            ).fetchone()
            assert row is not None
            counts[table] = row[0]
    return counts


# (method, path, body, the field the message must name)
CASES: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v1/players", {**PLAYER, "jersey_number": "ten"}, "jersey_number"),
    ("POST", "/api/v1/players", {**PLAYER, "jersey_number": 100}, "jersey_number"),
    ("POST", "/api/v1/players", {**PLAYER, "position": "GOALIE"}, "position"),
    ("POST", "/api/v1/players", {**PLAYER, "nickname": "Ace"}, "nickname"),
    ("POST", "/api/v1/players", {**PLAYER, "birth_date": "not a date"}, "birth_date"),
    ("POST", "/api/v1/players", {**PLAYER, "team_id": str(uuid.uuid4())}, "team_id"),
    ("POST", "/api/v1/players", {k: v for k, v in PLAYER.items() if k != "last_name"}, "last_name"),
    ("POST", "/api/v1/players", [PLAYER], "body"),
    ("POST", "/api/v1/seasons", {"name": "S", "starts_on": "2025-06-30", "ends_on": "2024-07-01"}, "ends_on"),
    ("POST", "/api/v1/wellness", {**WELLNESS, "fatigue": 11}, "fatigue"),
    ("POST", "/api/v1/wellness", {**WELLNESS, "resting_hr": 5}, "resting_hr"),
    (
        "POST",
        "/api/v1/sessions",
        {"title": "T", "starts_at": "2024-09-02T10:00Z", "duration_min": 0},
        "duration_min",
    ),
    (
        "POST",
        "/api/v1/videos/uploads",
        {"title": "V", "content_type": "text/plain", "size_bytes": 10},
        "content_type",
    ),
    (
        "POST",
        "/api/v1/videos/uploads",
        {"title": "V", "content_type": "video/mp4", "size_bytes": -1},
        "size_bytes",
    ),
    ("GET", "/api/v1/players?postion=GK", None, "postion"),
    ("GET", "/api/v1/players?limit=100000", None, "limit"),
    ("GET", "/api/v1/players?team_id=seven", None, "team_id"),
]


def message(body: Any) -> str:
    detail = body["detail"]
    if isinstance(detail, str):
        return detail
    return "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in detail)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), CASES, ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES]
)
def test_refused_naming_the_field_and_nothing_written(
    make_club: Any, migrated: str, method: str, path: str, body: Any, field: str
) -> None:
    club: Club = make_club("bad")
    before = row_counts(migrated)
    got = club.client.request(method, path, json=body, headers=club.auth(Role.OWNER))
    assert 400 <= got.status_code < 500, got.text
    assert field in message(got.json()), got.text
    assert row_counts(migrated) == before


def test_malformed_json_is_refused(make_club: Any, migrated: str) -> None:
    club: Club = make_club("bad")
    before = row_counts(migrated)
    headers = {**club.auth(Role.OWNER), "Content-Type": "application/json"}
    for raw in (b'{"first_name": ', b"\xff\xfe not utf-8"):
        got = club.client.post("/api/v1/players", content=raw, headers=headers)
        assert got.status_code in (400, 422), got.text
        assert got.json()["detail"]
    assert row_counts(migrated) == before
