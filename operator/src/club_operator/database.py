"""The Club's tenant in PostgreSQL: its database (shared pool or dedicated), schema, login role,
club row and role mapping, and the isolation probe.

Every `ensure_*` reads first and writes only what is missing, so a steady-state reconcile sends no
write to the server. The runtime owns the schema and tenancy SQL (club_runtime.db); this module
decides when to call it."""

from __future__ import annotations

import functools
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors, sql

from club_operator import pg_connections
from club_runtime.db import migrate as runtime_migrate
from club_runtime.db import tenancy

# A club that exists in every database the operator manages, with one row, so that the isolation
# probe has something it must not see, even in a dedicated database with a single real club.
CANARY_CLUB_ID = uuid.UUID("00000000-0000-4000-8000-00000000ca4a")
CANARY_SLUG = "isolation-canary"


class DatabaseUnavailable(RuntimeError):
    """The server cannot be reached right now (connection refused, timeout, shutting down)."""


class DatabaseFailed(RuntimeError):
    """The server answered but refused the work (a migration or provisioning error)."""


class InvalidServer(ValueError):
    """The admin DSN cannot be parsed."""


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server, as reached with its admin DSN."""

    admin_dsn: str
    connect_timeout: int = 5

    @property
    def params(self) -> dict[str, Any]:
        try:
            return psycopg.conninfo.conninfo_to_dict(self.admin_dsn)
        except psycopg.ProgrammingError as exc:
            raise InvalidServer("the admin DSN is not a valid PostgreSQL connection string") from exc

    @property
    def host(self) -> str:
        return str(self.params.get("host") or "localhost")

    @property
    def port(self) -> int:
        return int(self.params.get("port") or 5432)

    def admin(self, dbname: str | None = None) -> str:
        extra: dict[str, Any] = {"connect_timeout": self.connect_timeout}
        if dbname:
            extra["dbname"] = dbname
        return psycopg.conninfo.make_conninfo(self.admin_dsn, **extra)

    def club_dsn(self, dbname: str, role: str, password: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, dbname=dbname, user=role, password=password
        )


@dataclass(frozen=True)
class Tenant:
    club_id: uuid.UUID
    slug: str
    database: str
    role: str
    password: str
    dedicated: bool
    limits: tenancy.RoleLimits | None = None
    login: str | None = None  # the login role `password` is for, when not `role` (db_logins.py)

    @property
    def login_role(self) -> str:
        """The role the Club's sessions log in as: `role` itself, or one of its login roles."""
        return self.login or self.role


def translate(exc: BaseException, doing: str) -> Exception:
    """Library errors become ours at this boundary, with the cause kept and no secret in the text."""
    cause = exc.__cause__ if isinstance(exc, tenancy.TenancyError | runtime_migrate.MigrationError) else exc
    if isinstance(cause, psycopg.OperationalError):
        return DatabaseUnavailable(f"{doing}: the PostgreSQL server is unreachable ({type(cause).__name__})")
    return DatabaseFailed(f"{doing} failed: {exc}")


def _connect(dsn: str, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(dsn, **kwargs)


# Writes that touch a server's shared catalogs (databases, roles, grants) from two Clubs at once
# fail with "tuple concurrently updated" or duplicate-key errors: the operator makes them one at a
# time per server. They are rare (provisioning and repair); reads and probes stay concurrent.
_server_locks: defaultdict[tuple[str, int], threading.Lock] = defaultdict(threading.Lock)


def _exclusive(server: Server) -> threading.Lock:
    return _server_locks[(server.host, server.port)]


def ensure_database(server: Server, name: str) -> bool:
    """Create the database if it does not exist. Returns whether it was created."""
    try:
        with pg_connections.admin(server.admin()) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return False
            with _exclusive(server):
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except (errors.DuplicateDatabase, errors.UniqueViolation):
                    return False
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
            return True
    except psycopg.Error as exc:
        raise translate(exc, f"creating database {name}") from exc


@functools.cache
def _head_revisions() -> frozenset[str]:
    """The newest schema this code knows: fixed for the process (the runtime's migrations ship with
    the operator), and reading it parses every migration script, so it is read once."""
    return frozenset(runtime_migrate.head_revisions())


def _at_head(dsn: str) -> bool:
    """Whether the database's schema is at `_head_revisions`; False if it cannot be read."""
    try:
        with pg_connections.admin(dsn) as conn:
            rows = conn.execute("SELECT version_num FROM public.alembic_version").fetchall()
    except psycopg.Error:
        return False
    return {row[0] for row in rows} == _head_revisions()


def ensure_schema(server: Server, database: str) -> bool:
    """Run the runtime's migrations if the schema is not at head. Returns whether it migrated."""
    dsn = server.admin(database)
    if _at_head(dsn):
        return False
    try:
        with _exclusive(server):
            runtime_migrate.migrate(dsn)
    except (runtime_migrate.MigrationError, psycopg.Error) as exc:
        raise translate(exc, f"migrating database {database}") from exc
    return True


@dataclass(frozen=True)
class TenantCheck:
    """What one login as the club's role found."""

    in_place: bool  # the role logs in with the stored password and maps to the club
    isolated: bool | None  # the isolation probe's verdict on that same login; None: not run


def check_tenant(server: Server, tenant: Tenant) -> TenantCheck:
    """Log in as the club's role once: is the tenant in place, and does isolation hold? Reads only.
    (One login instead of two: each is a server process and an authentication.) A role whose limits
    or stored password drifted from the plan is not in place either."""
    if not _role_as_planned(server, tenant):
        return TenantCheck(in_place=False, isolated=None)
    try:
        conn = _connect(
            server.club_dsn(tenant.database, tenant.login_role, tenant.password),
            connect_timeout=server.connect_timeout,
        )
    except psycopg.Error:
        # The admin just reached the server, so this is the role's own failure (missing, wrong
        # password, no CONNECT): provisioning repairs each of those.
        return TenantCheck(in_place=False, isolated=None)
    with conn:
        try:
            row = conn.execute("SELECT public.current_club_id()").fetchone()
        except psycopg.Error:
            return TenantCheck(in_place=False, isolated=None)  # not mapped
        if row is None or row[0] != tenant.club_id:
            return TenantCheck(in_place=False, isolated=None)
        try:
            return TenantCheck(in_place=True, isolated=_probe(conn))
        except psycopg.Error:
            return TenantCheck(in_place=True, isolated=None)  # the probe reports it on its own


def ensure_tenant(server: Server, tenant: Tenant, in_place: bool) -> bool:
    """Create or repair the club's role, club row and mapping unless `in_place` (check_tenant).
    Returns whether anything was written."""
    if in_place:
        return False
    try:
        with _exclusive(server):
            tenancy.provision_club(
                server.admin(tenant.database),
                tenant.club_id,
                tenant.slug,
                tenant.role,
                tenant.password if tenant.login_role == tenant.role else None,
                limits=tenant.limits,
            )
            if tenant.login_role != tenant.role:
                tenancy.provision_login(
                    server.admin(tenant.database),
                    tenant.role,
                    tenant.login_role,
                    tenant.password,
                    limits=tenant.limits,
                )
    except tenancy.TenancyError as exc:
        raise translate(exc, f"provisioning role {tenant.login_role}") from exc
    return True


def retire_login(server: Server, database: str, login: str) -> int:
    """Refuse one of a Club's login roles from now on and end its sessions (db_rotation.py). Returns
    how many sessions were ended."""
    try:
        with _exclusive(server):
            return tenancy.retire_login(server.admin(database), login)
    except tenancy.TenancyError as exc:
        raise translate(exc, f"retiring login {login}") from exc


def end_sessions(server: Server, login: str) -> int:
    """End every session of one of a Club's logins (the breach response: a password just replaced
    does not end the sessions opened with the one before). Returns how many were ended."""
    try:
        with pg_connections.admin(server.admin()) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = %s AND pid <> pg_backend_pid()",
                [login],
            ).fetchall()
    except psycopg.Error as exc:
        raise translate(exc, f"ending the sessions of login {login}") from exc
    return sum(1 for (ended,) in rows if ended)


def ensure_canary(server: Server, database: str) -> bool:
    """The canary club and its one row, written as the admin (RLS does not apply to it)."""
    query = "SELECT 1 FROM public.seasons WHERE club_id = %s"
    try:
        with pg_connections.admin(server.admin(database)) as conn:
            if conn.execute(query, [CANARY_CLUB_ID]).fetchone():
                return False
            with _exclusive(server), conn.transaction():
                if conn.execute(query, [CANARY_CLUB_ID]).fetchone():
                    return False
                conn.execute(
                    "INSERT INTO public.clubs (club_id, slug, name) VALUES (%s, %s, %s) "
                    "ON CONFLICT (club_id) DO NOTHING",
                    [CANARY_CLUB_ID, CANARY_SLUG, "Isolation canary (do not use)"],
                )
                conn.execute(
                    "INSERT INTO public.seasons (club_id, name, starts_on, ends_on) "
                    "VALUES (%s, 'canary', '2000-01-01', '2000-12-31')",
                    [CANARY_CLUB_ID],
                )
                return True
    except psycopg.Error as exc:
        raise translate(exc, f"writing the isolation canary in {database}") from exc


def _probe(conn: psycopg.Connection[Any]) -> bool:
    """As the club's role: the canary club's row is invisible, then the runtime's own probe."""
    row = conn.execute("SELECT count(*) FROM public.seasons WHERE club_id = %s", [CANARY_CLUB_ID]).fetchone()
    if row is None or row[0] != 0:
        return False
    return tenancy.probe_isolation_on(conn)


def probe_isolation(server: Server, tenant: Tenant) -> bool:
    """Log in as the club's role and try to read the canary club's row (nothing may come back), then
    run the runtime's own probe (no foreign row visible in any tenant table, foreign writes refused)."""
    dsn = server.club_dsn(tenant.database, tenant.login_role, tenant.password)
    try:
        with _connect(dsn, connect_timeout=server.connect_timeout) as conn:
            return _probe(conn)
    except psycopg.Error as exc:
        raise translate(exc, "probing isolation") from exc


def drop_tenant(server: Server, tenant: Tenant, *, drop_role: bool, drop_database: bool) -> None:
    """Delete the club's data: the whole database when dedicated (if `drop_database`), the club's
    rows (`tenant.club_id`) when shared, and its role if `drop_role`. The caller decides what the
    Club owns (pg_owners.drop_owned)."""
    with _exclusive(server):
        _drop_tenant(server, tenant, drop_role, drop_database)


def _drop_tenant(server: Server, tenant: Tenant, drop_role: bool, drop_database: bool) -> None:
    try:
        with _connect(server.admin(), autocommit=True) as conn:
            if tenant.dedicated:
                if drop_database:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(tenant.database)
                        )
                    )
                if drop_role:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(tenant.role)))
                return
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [tenant.database]).fetchone():
                return
        tenancy.drop_club(server.admin(tenant.database), tenant.club_id, tenant.role if drop_role else None)
    except (psycopg.Error, tenancy.TenancyError) as exc:
        raise translate(exc, f"dropping the tenant of {tenant.slug}") from exc


def _role_as_planned(server: Server, tenant: Tenant) -> bool:
    """Whether the role's connection limit and settings are the plan's and its password is stored as
    a SCRAM verifier (read where the admin may read pg_authid). False when the role is missing."""
    if tenant.limits is None:
        return True
    try:
        with pg_connections.admin(server.admin()) as conn:
            row = conn.execute(
                "SELECT r.rolconnlimit, coalesce(s.setconfig, '{}'), "
                "has_table_privilege('pg_catalog.pg_authid', 'SELECT') "
                "FROM pg_roles r LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0 "
                "WHERE r.rolname = %s",
                [tenant.login_role],
            ).fetchone()
            if row is None:
                return False
            scram = True
            if row[2]:
                stored = conn.execute(
                    "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", [tenant.login_role]
                ).fetchone()
                scram = stored is not None and str(stored[0] or "").startswith("SCRAM-SHA-256$")
    except psycopg.Error as exc:
        raise translate(exc, f"reading the limits of role {tenant.login_role}") from exc
    limits = tenant.limits
    return row[0] == limits.connection_limit and limits.setconfig <= set(row[1]) and scram
