"""Two clubs in one database: club A, through raw SQL as its own role and through its API, can neither
read nor write club B's rows, whatever session settings it tries to change first. Hypothesis draws
the attempts; afterwards club B's data is checked unchanged, as the database superuser sees it."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors, sql

from club_runtime.core.roles import Role
from club_runtime.db import tenancy
from tests.integration.runtime.conftest import Club

TABLES = tenancy.TENANT_TABLES

PRELUDES = [
    None,
    "SELECT set_config('app.club_id', %(b)s, false)",
    "SELECT set_config('app.club_id', %(b)s, true)",
    "RESET ROLE",
    "RESET ALL",
    "SET ROLE {b_role}",
    "SET SESSION AUTHORIZATION {b_role}",
    "SET ROLE postgres",
    "ALTER TABLE public.players DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE public.players NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY tenant_isolation ON public.players",
    "SELECT * FROM public.tenant_roles",
    "INSERT INTO public.tenant_roles VALUES (current_user, %(b)s)",
    "UPDATE public.tenant_roles SET club_id = %(b)s",
    "CREATE FUNCTION public.current_club_id() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'",
]

ATTEMPTS = {
    "read_b": ("SELECT count(*) FROM {t} WHERE club_id = %(b)s", "zero"),
    "read_all": ("SELECT count(*) FROM {t} WHERE club_id <> %(a)s", "zero"),
    "read_via_role_lookup": (
        "SELECT count(*) FROM {t} WHERE club_id = public.club_id_for_role(%(b_role)s)",
        "zero",
    ),
    "update_b": ("UPDATE {t} SET club_id = club_id WHERE club_id = %(b)s", "no_rows"),
    "delete_b": ("DELETE FROM {t} WHERE club_id = %(b)s", "no_rows"),
    "move_own_to_b": ("UPDATE {t} SET club_id = %(b)s", "refused"),
    "insert_into_b": (
        "INSERT INTO {t} SELECT (jsonb_populate_record(NULL::{t}, to_jsonb(x) || "
        "jsonb_build_object('club_id', %(b)s::text, 'id', gen_random_uuid()))).* FROM {t} x LIMIT 1",
        "refused",
    ),
}


def fingerprint(admin_dsn: str, club_id: str) -> dict[str, str]:
    with psycopg.connect(admin_dsn) as conn:
        return {
            t: str(
                conn.execute(
                    sql.SQL(
                        "SELECT count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) "
                        "FROM {} x WHERE club_id = %s"
                    ).format(sql.Identifier("public", t)),
                    [club_id],
                ).fetchone()
            )
            for t in TABLES
        }


def run_attempt(
    conn: psycopg.Connection[Any], prelude: str | None, table: str, attempt: str, params: dict[str, str]
) -> None:
    if prelude is not None:
        try:
            conn.execute(sql.SQL(prelude).format(b_role=sql.Identifier(params["b_role"])), params)  # type: ignore[arg-type]
        except psycopg.Error:
            conn.rollback()
    query, expect = ATTEMPTS[attempt]
    stmt = sql.SQL(query).format(t=sql.Identifier("public", table))
    try:
        cur = conn.execute(stmt, params)
    except (errors.InsufficientPrivilege, errors.ForeignKeyViolation) as exc:
        refused_as_expected = expect == "refused" or "permission denied" in str(exc)
        assert refused_as_expected, (prelude, table, attempt, exc)  # noqa: PT017
        conn.rollback()
        return
    if expect == "zero":
        row = cur.fetchone()
        assert row is not None
        assert row[0] == 0, (prelude, table, attempt)
    elif expect == "no_rows":
        assert cur.rowcount == 0, (prelude, table, attempt)
    else:
        # refused unless club A had no row to move or copy
        assert cur.rowcount == 0, (prelude, table, attempt)
    conn.rollback()


def test_raw_sql_as_club_role_never_reaches_another_club(two_clubs: tuple[Club, Club], migrated: str) -> None:
    a, b = two_clubs
    before = fingerprint(migrated, b.club_id)
    params = {"a": a.club_id, "b": b.club_id, "b_role": b.role_name}

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        prelude=st.sampled_from(PRELUDES),
        table=st.sampled_from(TABLES),
        attempt=st.sampled_from(sorted(ATTEMPTS)),
    )
    def attempt(prelude: str | None, table: str, attempt: str) -> None:
        with psycopg.connect(a.dsn) as conn:
            run_attempt(conn, prelude, table, attempt, params)
            # after whatever the prelude did, the session still sees only club A
            row = conn.execute("SELECT public.current_club_id()").fetchone()
            assert row is not None
            assert str(row[0]) == a.club_id

    attempt()
    assert fingerprint(migrated, b.club_id) == before
    assert tenancy.probe_isolation(a.dsn)
    assert tenancy.probe_isolation(b.dsn)


def test_raw_sql_through_a_login_role_of_the_club_never_reaches_another_club(
    two_clubs: tuple[Club, Club], migrated: str
) -> None:
    """A club whose database password rotates logs in through a login role of its own, a member of
    its role that sets it at login (tenancy.provision_login): the same attempts, and setting the role
    back to the login itself, reach nothing of club B (nor anything at all without the club's role)."""
    a, b = two_clubs
    login, password = f"{a.role_name}__a", secrets.token_urlsafe(16)
    tenancy.provision_login(migrated, a.role_name, login, password)
    dsn = psycopg.conninfo.make_conninfo(a.dsn, user=login, password=password)
    before = fingerprint(migrated, b.club_id)
    params = {"a": a.club_id, "b": b.club_id, "b_role": b.role_name}
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_user, session_user").fetchone() == (a.role_name, login)

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        prelude=st.sampled_from([*PRELUDES, "SET ROLE NONE", f"SET ROLE {login}"]),
        table=st.sampled_from(TABLES),
        attempt=st.sampled_from(sorted(ATTEMPTS)),
    )
    def attempt(prelude: str | None, table: str, attempt: str) -> None:
        with psycopg.connect(dsn) as conn:
            run_attempt(conn, prelude, table, attempt, params)
            # Club A's, or no club at all once the session gave up the club's role.
            row = conn.execute("SELECT public.current_club_id()").fetchone()
            assert row is not None
            assert row[0] is None or str(row[0]) == a.club_id

    attempt()
    assert fingerprint(migrated, b.club_id) == before
    assert tenancy.probe_isolation(dsn)
    tenancy.retire_login(migrated, login)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn).close()
    tenancy.drop_login(migrated, login)


def every_id(admin_dsn: str, club_id: str) -> dict[str, list[str]]:
    with psycopg.connect(admin_dsn) as conn:
        return {
            t: [
                str(r[0])
                for r in conn.execute(
                    sql.SQL("SELECT id FROM {} WHERE club_id = %s").format(sql.Identifier("public", t)),
                    [club_id],
                ).fetchall()
            ]
            for t in (
                "players",
                "teams",
                "seasons",
                "training_sessions",
                "matches",
                "injuries",
                "videos",
                "users",
            )
        }


ITEM_ROUTES = {
    "players": "/api/v1/players/{id}",
    "teams": "/api/v1/teams/{id}",
    "seasons": "/api/v1/seasons/{id}",
    "training_sessions": "/api/v1/sessions/{id}",
    "matches": "/api/v1/matches/{id}",
    "injuries": "/api/v1/injuries/{id}",
    "videos": "/api/v1/videos/{id}",
    "users": "/api/v1/users/{id}",
}
SUB_ROUTES = [
    ("GET", "/api/v1/players/{id}/export", "players"),
    ("GET", "/api/v1/players/{id}/load", "players"),
    ("GET", "/api/v1/sessions/{id}/attendance", "training_sessions"),
    ("PUT", "/api/v1/sessions/{id}/attendance", "training_sessions"),
    ("GET", "/api/v1/matches/{id}/stats", "matches"),
    ("PUT", "/api/v1/matches/{id}/stats", "matches"),
    ("GET", "/api/v1/videos/{id}/hls/master.m3u8", "videos"),
    ("POST", "/api/v1/videos/{id}/process", "videos"),
]
REFERENCING_WRITES = [
    ("POST", "/api/v1/teams", lambda ids: {"name": "X", "category": "U15", "season_id": ids["seasons"][0]}),
    (
        "POST",
        "/api/v1/injuries",
        lambda ids: {
            "player_id": ids["players"][0],
            "occurred_on": "2024-01-01",
            "body_part": "ankle",
            "severity": "minor",
        },
    ),
    (
        "POST",
        "/api/v1/wellness",
        lambda ids: {
            "player_id": ids["players"][0],
            "day": "2024-01-01",
            "sleep_quality": 3,
            "fatigue": 3,
            "soreness": 3,
            "stress": 3,
            "mood": 3,
        },
    ),
    (
        "POST",
        "/api/v1/users",
        lambda ids: {
            "email": "x@club.test",
            "password": "long enough password",
            "role": "player",
            "full_name": "X",
            "player_id": ids["players"][0],
        },
    ),
    (
        "POST",
        "/api/v1/sessions",
        lambda ids: {
            "title": "T",
            "starts_at": "2024-01-01T10:00:00Z",
            "duration_min": 60,
            "team_id": ids["teams"][0],
        },
    ),
]
ROLE_FOR = {"injuries": Role.MEDICAL, "users": Role.OWNER, "wellness": Role.MEDICAL}


def test_api_of_club_a_never_reads_or_writes_club_b(two_clubs: tuple[Club, Club], migrated: str) -> None:
    a, b = two_clubs
    before = fingerprint(migrated, b.club_id)
    b_ids = every_id(migrated, b.club_id)
    all_b = {i for ids in b_ids.values() for i in ids}

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        target=st.one_of(
            st.tuples(st.sampled_from(["GET", "PATCH", "DELETE"]), st.sampled_from(sorted(ITEM_ROUTES))).map(
                lambda mt: (mt[0], ITEM_ROUTES[mt[1]], mt[1])
            ),
            st.sampled_from(SUB_ROUTES),
        ),
        role=st.sampled_from([Role.OWNER, Role.MEDICAL, Role.COACH]),
    )
    def attempt_item(target: tuple[str, str, str], role: Role) -> None:
        method, template, table = target
        body: Any = [] if method == "PUT" else ({} if method == "PATCH" else None)
        got = a.client.request(method, template.format(id=b_ids[table][0]), headers=a.auth(role), json=body)
        assert got.status_code in (403, 404, 405), (method, template, role, got.status_code, got.text)

    attempt_item()

    for method, path, body in REFERENCING_WRITES:
        role = ROLE_FOR.get(path.rsplit("/", 1)[-1], Role.OWNER)
        got = a.client.request(method, path, headers=a.auth(role), json=body(b_ids))
        assert got.status_code in (403, 404, 422), (path, got.status_code, got.text)

    for path in (
        "/api/v1/players",
        "/api/v1/teams",
        "/api/v1/seasons",
        "/api/v1/sessions",
        "/api/v1/matches",
        "/api/v1/videos",
        "/api/v1/users",
        "/api/v1/wellness",
        "/api/v1/alerts",
    ):
        role = Role.OWNER
        listed = a.client.get(
            path, params={"limit": 200} if path != "/api/v1/alerts" else {}, headers=a.auth(role)
        )
        assert listed.status_code == 200, (path, listed.text)
        assert all_b.isdisjoint(listed.text.split('"')), path
    injuries = a.client.get("/api/v1/injuries", headers=a.auth(Role.MEDICAL))
    assert all_b.isdisjoint(injuries.text.split('"'))

    assert fingerprint(migrated, b.club_id) == before
