"""Tenancy: one PostgreSQL login role per club, mapped to its club in `tenant_roles`.

A club role owns nothing, cannot bypass RLS, inherits nothing and belongs to no other role, so the
policies (which compare `club_id` with the club of `current_user`) hold whatever SQL it sends.
`provision_club` is idempotent: the operator calls it on every reconcile and on password rotation.
A club rotating its database password logs in through two login roles of its own instead, members
of its role that set it at login (`provision_login`), one retired while the other is in use.
`probe_isolation` is the operator's continuous proof: as the club role, other clubs' rows are invisible
and a write into another club is refused."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors, sql

# Privileges of a club role, per table. Tables absent here (tenant_roles) are closed to club roles.
TABLE_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "clubs": ("SELECT",),
    "alembic_version": ("SELECT",),
    **dict.fromkeys(
        (
            "seasons",
            "teams",
            "players",
            "users",
            "training_sessions",
            "attendance",
            "wellness_entries",
            "matches",
            "match_stats",
            "injuries",
            "videos",
            "refresh_families",
        ),
        ("SELECT", "INSERT", "UPDATE", "DELETE"),
    ),
}
TENANT_TABLES = tuple(t for t in TABLE_PRIVILEGES if t != "alembic_version")


class TenancyError(RuntimeError):
    """Provisioning or probing a club failed."""


@dataclass(frozen=True)
class RoleLimits:
    """What one club's role may take of the server: `settings` are per-role defaults
    (ALTER ROLE ... SET, for every database), such as statement_timeout in milliseconds."""

    connection_limit: int
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def setconfig(self) -> frozenset[str]:
        """The settings as pg_db_role_setting.setconfig lists them."""
        return frozenset(f"{name}={value}" for name, value in self.settings)


@dataclass(frozen=True)
class ClubSpec:
    club_id: uuid.UUID
    slug: str
    role_name: str
    password: str | None
    name: str = ""


def _grant(conn: psycopg.Connection[tuple[Any, ...]], role: str) -> None:
    ident = sql.Identifier(role)
    dbname = conn.info.dbname
    # CONNECT only: temporary tables would let a club fill the server's disk outside its quota.
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident))
    conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM {}").format(sql.Identifier(dbname), ident))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    for table, privileges in TABLE_PRIVILEGES.items():
        conn.execute(
            sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier("public", table), ident
            )
        )


def grant_all(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    """Give every provisioned club role its privileges (after a migration added tables)."""
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(conn.info.dbname)))
    for (role,) in conn.execute("SELECT role_name FROM public.tenant_roles").fetchall():
        _grant(conn, str(role))
    conn.commit()


def provision_club(
    admin_dsn: str,
    club_id: uuid.UUID | str,
    slug: str,
    role_name: str,
    password: str | None,
    *,
    limits: RoleLimits | None = None,
) -> None:
    """Create or update the club's login role (with this password and, when given, these limits),
    its club row, its mapping and grants. `password` None: the club's sessions log in through login
    roles of their own (`provision_login`): the role is created NOLOGIN, and an existing role's
    LOGIN and password are left as they are (a rotation retires them once no session uses them)."""
    spec = ClubSpec(club_id=uuid.UUID(str(club_id)), slug=slug, role_name=role_name, password=password)
    try:
        with psycopg.connect(admin_dsn) as conn:
            _provision(conn, spec, limits)
    except psycopg.Error as exc:
        raise TenancyError(f"provisioning club {slug!r} failed: {exc.__class__.__name__}") from exc


def scram_verifier(conn: psycopg.Connection[Any], role_name: str, password: str) -> str:
    """The password as a SCRAM-SHA-256 verifier, computed by libpq on this side: the server (and its
    statement log) never receives the password itself."""
    return conn.pgconn.encrypt_password(password.encode(), role_name.encode(), b"scram-sha-256").decode()


def _provision(conn: psycopg.Connection[tuple[Any, ...]], spec: ClubSpec, limits: RoleLimits | None) -> None:
    role = sql.Identifier(spec.role_name)
    # Role creation races between databases sharing a server; a lock keyed on the name serialises it.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [spec.role_name])
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [spec.role_name]).fetchone()
    attributes: sql.Composable = sql.SQL(
        "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
    )
    if spec.password is not None:
        attributes = sql.SQL("LOGIN {} PASSWORD {}").format(
            attributes, sql.Literal(scram_verifier(conn, spec.role_name, spec.password))
        )
    elif not exists:
        attributes = sql.SQL("NOLOGIN {}").format(attributes)
    verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
    conn.execute(sql.SQL("{} {} {}").format(verb, role, attributes))
    if limits is not None:
        conn.execute(
            sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(role, sql.Literal(limits.connection_limit))
        )
        for name, value in limits.settings:
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(role, sql.Identifier(name), sql.Literal(value))
            )
    for (group,) in conn.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s",
        [spec.role_name],
    ).fetchall():
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(str(group)), role))
    owned = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s",
        [spec.role_name],
    ).fetchone()
    if owned and owned[0]:
        raise TenancyError(f"role {spec.role_name!r} owns relations; a club role must own nothing")
    mapped = conn.execute(
        "SELECT role_name FROM public.tenant_roles WHERE club_id = %s", [spec.club_id]
    ).fetchone()
    if mapped and mapped[0] != spec.role_name:
        raise TenancyError(f"club {spec.slug!r} is already mapped to another role")
    conn.execute(
        "INSERT INTO public.clubs (club_id, slug, name) VALUES (%s, %s, %s) "
        "ON CONFLICT (club_id) DO UPDATE SET slug = EXCLUDED.slug",
        [spec.club_id, spec.slug, spec.name or spec.slug],
    )
    conn.execute(
        "INSERT INTO public.tenant_roles (role_name, club_id) VALUES (%s, %s) "
        "ON CONFLICT (role_name) DO UPDATE SET club_id = EXCLUDED.club_id",
        [spec.role_name, spec.club_id],
    )
    _grant(conn, spec.role_name)


def provision_login(
    admin_dsn: str, tenant_role: str, login: str, password: str, *, limits: RoleLimits | None = None
) -> None:
    """Create or update `login`, a login role whose sessions run as the club's `tenant_role`: a
    member of it (and of nothing else) that inherits nothing, with `role` set to it at login, so
    `current_user` is the tenant role (the policies' `club_id_for_role(current_user)` holds, and
    its `pg_has_role(session_user, ...)` check passes for a member). A session that sets its role
    back to the login itself holds no privilege and maps to no club. Its password, the limits
    (connection limit and settings count per login), and CONNECT on the database."""
    ident, tenant = sql.Identifier(login), sql.Identifier(tenant_role)
    try:
        with psycopg.connect(admin_dsn) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [login])
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone()
            verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
            conn.execute(
                sql.SQL(
                    "{} {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS "
                    "PASSWORD {}"
                ).format(verb, ident, sql.Literal(scram_verifier(conn, login, password)))
            )
            if limits is not None:
                conn.execute(
                    sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                        ident, sql.Literal(limits.connection_limit)
                    )
                )
                for name, value in limits.settings:
                    conn.execute(
                        sql.SQL("ALTER ROLE {} SET {} = {}").format(
                            ident, sql.Identifier(name), sql.Literal(value)
                        )
                    )
            for (group,) in conn.execute(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s AND g.rolname <> %s",
                [login, tenant_role],
            ).fetchall():
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(str(group)), ident))
            conn.execute(sql.SQL("GRANT {} TO {}").format(tenant, ident))
            conn.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(ident, sql.Literal(tenant_role)))
            dbname = sql.Identifier(conn.info.dbname)
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(dbname, ident))
            conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM {}").format(dbname, ident))
    except psycopg.Error as exc:
        raise TenancyError(f"provisioning login {login!r} failed: {exc.__class__.__name__}") from exc


def retire_login(admin_dsn: str, login: str) -> int:
    """Refuse `login` from now on (NOLOGIN, password removed), then end its sessions: a client that
    tries again is refused. Returns how many sessions were ended. A missing role is left missing."""
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone():
                return 0
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD NULL").format(sql.Identifier(login)))
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = %s AND pid <> pg_backend_pid()",
                [login],
            ).fetchall()
            return sum(1 for (ended,) in rows if ended)
    except psycopg.Error as exc:
        raise TenancyError(f"retiring login {login!r} failed: {exc.__class__.__name__}") from exc


def drop_login(admin_dsn: str, login: str) -> None:
    """Drop a login role of a club (`provision_login`), after ending its sessions and taking back
    what it was granted in the database `admin_dsn` names."""
    ident = sql.Identifier(login)
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone():
                return
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD NULL").format(ident))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = %s AND pid <> pg_backend_pid()",
                [login],
            )
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(conn.info.dbname), ident)
            )
            # Granted something in another database of the server: left NOLOGIN.
            with contextlib.suppress(errors.DependentObjectsStillExist):
                conn.execute(sql.SQL("DROP ROLE {}").format(ident))
    except psycopg.Error as exc:
        raise TenancyError(f"dropping login {login!r} failed: {exc.__class__.__name__}") from exc


def drop_club(admin_dsn: str, club_id: uuid.UUID | str, role_name: str | None) -> None:
    """Delete the club's rows (every tenant table cascades from `clubs`), its mapping and its role.
    `role_name` None: the role is not the club's to drop (the operator found it owned by another)."""
    cid = uuid.UUID(str(club_id))
    try:
        with psycopg.connect(admin_dsn) as conn:
            conn.execute(
                "DELETE FROM public.tenant_roles WHERE role_name = %s OR club_id = %s", [role_name, cid]
            )
            conn.execute("DELETE FROM public.clubs WHERE club_id = %s", [cid])
            if (
                role_name
                and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role_name]).fetchone()
            ):
                ident = sql.Identifier(role_name)
                conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident))
                conn.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(ident))
                conn.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                        sql.Identifier(conn.info.dbname), ident
                    )
                )
                conn.commit()
                # The role may still hold privileges in other databases of the server (dedicated
                # isolation reuses nothing, shared uses one database): drop it only when it can go.
                try:
                    conn.execute(sql.SQL("DROP ROLE {}").format(ident))
                except errors.DependentObjectsStillExist:
                    conn.rollback()
    except psycopg.Error as exc:
        raise TenancyError(f"dropping club {cid} failed: {exc.__class__.__name__}") from exc


def probe_isolation(club_dsn: str) -> bool:
    """As the club role: every row visible is the club's own, and writing a row for another club fails.

    Returns True when isolation holds. Writes nothing (the attempted insert is rolled back)."""
    try:
        with psycopg.connect(club_dsn) as conn:
            return probe_isolation_on(conn)
    except psycopg.Error as exc:
        raise TenancyError(f"probing isolation failed: {exc.__class__.__name__}") from exc


def probe_isolation_on(conn: psycopg.Connection[Any]) -> bool:
    """`probe_isolation` on a connection already logged in as the club role (not in autocommit:
    the attempted insert is rolled back). psycopg errors propagate."""
    stranger = uuid.uuid4()
    own = conn.execute("SELECT public.current_club_id()").fetchone()
    if own is None or own[0] is None:
        return False
    for table in TENANT_TABLES:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE club_id IS DISTINCT FROM %s").format(
                sql.Identifier("public", table)
            ),
            [own[0]],
        ).fetchone()
        if row is None or row[0] != 0:
            return False
    try:
        conn.execute(
            "INSERT INTO public.seasons (club_id, name, starts_on, ends_on) "
            "VALUES (%s, 'probe', '2000-01-01', '2000-12-31')",
            [stranger],
        )
    except errors.InsufficientPrivilege:
        conn.rollback()
        return True
    conn.rollback()
    return False
