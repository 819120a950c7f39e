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

from club_operator import ownership, pg_connections
from club_operator.ownership import Found, Owner
from club_runtime.db import migrate as runtime_migrate
from club_runtime.db import tenancy

# A club that exists in every database the operator manages, with one row, so that the isolation
# probe has something it must not see, even in a dedicated database with a single real club.
CANARY_CLUB_ID = uuid.UUID("00000000-0000-4000-8000-00000000ca4a")
CANARY_SLUG = "isolation-canary"
# Databases that hold the server itself: never a club's pool.
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})


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


def _translate(exc: BaseException, doing: str) -> Exception:
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
        raise _translate(exc, f"creating database {name}") from exc


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
        raise _translate(exc, f"migrating database {database}") from exc
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
            server.club_dsn(tenant.database, tenant.role, tenant.password),
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
                tenant.password,
                limits=tenant.limits,
            )
    except tenancy.TenancyError as exc:
        raise _translate(exc, f"provisioning role {tenant.role}") from exc
    return True


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
        raise _translate(exc, f"writing the isolation canary in {database}") from exc


def _probe(conn: psycopg.Connection[Any]) -> bool:
    """As the club's role: the canary club's row is invisible, then the runtime's own probe."""
    row = conn.execute("SELECT count(*) FROM public.seasons WHERE club_id = %s", [CANARY_CLUB_ID]).fetchone()
    if row is None or row[0] != 0:
        return False
    return tenancy.probe_isolation_on(conn)


def probe_isolation(server: Server, tenant: Tenant) -> bool:
    """Log in as the club's role and try to read the canary club's row (nothing may come back), then
    run the runtime's own probe (no foreign row visible in any tenant table, foreign writes refused)."""
    dsn = server.club_dsn(tenant.database, tenant.role, tenant.password)
    try:
        with _connect(dsn, connect_timeout=server.connect_timeout) as conn:
            return _probe(conn)
    except psycopg.Error as exc:
        raise _translate(exc, "probing isolation") from exc


def drop_tenant(server: Server, tenant: Tenant, uid: str) -> list[str]:
    """Delete the club's data and role: the whole database when dedicated, the club's rows when shared.
    Only what records the Club `uid` as its owner goes; returns what was left because another Club
    (or none) owns it."""
    with _exclusive(server):
        return _drop_tenant(server, tenant, uid)


def _drop_tenant(server: Server, tenant: Tenant, uid: str) -> list[str]:
    kept: list[str] = []
    try:
        role = _owner_of(server, "role", tenant.role)
        ours = role is not None and role.uid == uid
        if not ours and _exists(server, "role", tenant.role):
            kept.append(f"role {tenant.role}")
        # The rows carry the tenant id in the role's record (kept when a Club adopted them).
        club_id = uuid.UUID(role.tenant) if ours and role is not None else tenant.club_id
        with _connect(server.admin(), autocommit=True) as conn:
            if tenant.dedicated:
                database = _owner_of(server, "database", tenant.database)
                if database is not None and database.uid == uid:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(tenant.database)
                        )
                    )
                elif _exists(server, "database", tenant.database):
                    kept.append(f"database {tenant.database}")
                if ours:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(tenant.role)))
                return kept
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [tenant.database]).fetchone():
                return kept
        tenancy.drop_club(server.admin(tenant.database), club_id, tenant.role if ours else None)
    except (psycopg.Error, tenancy.TenancyError) as exc:
        raise _translate(exc, f"dropping the tenant of {tenant.slug}") from exc
    return kept


def tenant_exists(server: Server, tenant: Tenant) -> bool:
    """Whether the club's role or (dedicated) database is still on the server. Reads only."""
    try:
        with _connect(server.admin(), autocommit=True) as conn:
            role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [tenant.role]).fetchone()
            db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [tenant.database]).fetchone()
            return bool(role) or (tenant.dedicated and bool(db))
    except psycopg.Error as exc:
        raise _translate(exc, "looking up the tenant") from exc


# Ownership: each role and dedicated database records its Club in its comment (ownership.py).

_DESCRIBE = {
    "role": "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
    "database": "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
}
_COMMENT = {"role": "COMMENT ON ROLE {} IS {}", "database": "COMMENT ON DATABASE {} IS {}"}


def _described(server: Server, kind: str, name: str) -> tuple[bool, str | None]:
    with pg_connections.admin(server.admin()) as conn:
        row = conn.execute(_DESCRIBE[kind], [name]).fetchone()
    return (row is not None, None if row is None else row[0])


def _exists(server: Server, kind: str, name: str) -> bool:
    return _described(server, kind, name)[0]


def _owner_of(server: Server, kind: str, name: str) -> Owner | None:
    return Owner.from_comment(_described(server, kind, name)[1])


def find_role(server: Server, tenant: Tenant, uid: str) -> Found:
    """The role and its record. With no record, it is this Club's if the tenant database maps it to
    the Club's uid (the operator made it, then stopped before recording the owner, or predates records)."""
    try:
        exists, comment = _described(server, "role", tenant.role)
        record = Owner.from_comment(comment)
        legacy = exists and record is None and _mapped_to(server, tenant, uid)
    except psycopg.Error as exc:
        raise _translate(exc, f"reading the owner of role {tenant.role}") from exc
    return Found(exists, record, legacy)


def find_database(server: Server, name: str, uid: str) -> Found:
    """A dedicated database and its record. With no record, it is this Club's if no club but it (and
    the isolation canary) has rows there: the operator made it and stopped before recording the owner."""
    try:
        exists, comment = _described(server, "database", name)
        record = Owner.from_comment(comment)
        legacy = exists and record is None and _only_club(server, name, uid)
    except psycopg.Error as exc:
        raise _translate(exc, f"reading the owner of database {name}") from exc
    return Found(exists, record, legacy)


def check_pool(server: Server, name: str) -> None:
    """A shared database must not be a system one or a Club's dedicated one. Raises Conflict."""
    if name in SYSTEM_DATABASES:
        raise ownership.Conflict(f"database {name} is a system database, never a club's pool")
    try:
        record = _owner_of(server, "database", name)
    except psycopg.Error as exc:
        raise _translate(exc, f"reading the owner of database {name}") from exc
    if record is not None:
        raise ownership.Conflict(f"database {name} is another Club's dedicated database, not a shared pool")


def record_owner(server: Server, kind: str, name: str, owner: Owner) -> None:
    """Write the ownership record (`kind` role or database) as the object's comment."""
    statement = sql.SQL(_COMMENT[kind]).format(sql.Identifier(name), sql.Literal(owner.to_comment()))
    try:
        with pg_connections.admin(server.admin()) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        raise _translate(exc, f"recording the owner of {kind} {name}") from exc


def _mapped_to(server: Server, tenant: Tenant, uid: str) -> bool:
    if not _database_exists(server, tenant.database):
        return False
    with pg_connections.admin(server.admin(tenant.database)) as conn:
        if conn.execute("SELECT to_regclass('public.tenant_roles')").fetchone() in (None, (None,)):
            return False
        row = conn.execute(
            "SELECT club_id FROM public.tenant_roles WHERE role_name = %s", [tenant.role]
        ).fetchone()
    return row is not None and str(row[0]) == uid


def _only_club(server: Server, database: str, uid: str) -> bool:
    with pg_connections.admin(server.admin(database)) as conn:
        if conn.execute("SELECT to_regclass('public.clubs')").fetchone() in (None, (None,)):
            return True
        rows = conn.execute(
            "SELECT club_id FROM public.clubs WHERE club_id <> %s", [CANARY_CLUB_ID]
        ).fetchall()
    return {str(r[0]) for r in rows} <= {uid}


def _database_exists(server: Server, name: str) -> bool:
    with pg_connections.admin(server.admin()) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


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
                [tenant.role],
            ).fetchone()
            if row is None:
                return False
            scram = True
            if row[2]:
                stored = conn.execute(
                    "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", [tenant.role]
                ).fetchone()
                scram = stored is not None and str(stored[0] or "").startswith("SCRAM-SHA-256$")
    except psycopg.Error as exc:
        raise _translate(exc, f"reading the limits of role {tenant.role}") from exc
    limits = tenant.limits
    return row[0] == limits.connection_limit and limits.setconfig <= set(row[1]) and scram
