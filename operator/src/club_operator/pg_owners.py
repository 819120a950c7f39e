"""Who owns a Club's role and dedicated database on a PostgreSQL server: each records its Club in
its comment (`COMMENT ON ROLE / DATABASE`, JSON, see ownership.py). A club role has no CREATEROLE
and owns no database, so it cannot write either record; security labels would need a provider
module loaded in the server, and a table of owners in some admin database would outlive the objects
it describes: the comment lives and dies with its object.

Reads for the reconcile (`find_role`, `find_database`, `check_pool`), the record written once the
object is the Club's (`record_owner`), and the deletion that drops only what the Club owns
(`drop_owned`)."""

from __future__ import annotations

import dataclasses
import uuid

import psycopg
from psycopg import sql

from club_operator import db_logins, ownership, pg_connections
from club_operator.database import CANARY_CLUB_ID, Server, Tenant, drop_tenant, translate
from club_operator.ownership import Found, Owner
from club_runtime.db import tenancy

# Databases that hold the server itself: never a club's pool.
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})

_DESCRIBE = {
    "role": "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
    "database": "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
}
_COMMENT = {"role": "COMMENT ON ROLE {} IS {}", "database": "COMMENT ON DATABASE {} IS {}"}


def _described(server: Server, kind: str, name: str) -> tuple[bool, str | None]:
    with pg_connections.admin(server.admin()) as conn:
        row = conn.execute(_DESCRIBE[kind], [name]).fetchone()
    return (row is not None, None if row is None else row[0])


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
        raise translate(exc, f"reading the owner of role {tenant.role}") from exc
    return Found(exists, record, legacy)


def find_database(server: Server, name: str, uid: str) -> Found:
    """A dedicated database and its record. With no record, it is this Club's if no club but it (and
    the isolation canary) has rows there: the operator made it and stopped before recording the owner."""
    try:
        exists, comment = _described(server, "database", name)
        record = Owner.from_comment(comment)
        legacy = exists and record is None and _only_club(server, name, uid)
    except psycopg.Error as exc:
        raise translate(exc, f"reading the owner of database {name}") from exc
    return Found(exists, record, legacy)


def check_pool(server: Server, name: str) -> None:
    """A shared database must not be a system one or a Club's dedicated one. Raises Conflict."""
    if name in SYSTEM_DATABASES:
        raise ownership.Conflict(f"database {name} is a system database, never a club's pool")
    try:
        record = _owner_of(server, "database", name)
    except psycopg.Error as exc:
        raise translate(exc, f"reading the owner of database {name}") from exc
    if record is not None:
        raise ownership.Conflict(f"database {name} is another Club's dedicated database, not a shared pool")


def record_owner(server: Server, kind: str, name: str, owner: Owner) -> None:
    """Write the ownership record (`kind` role or database) as the object's comment."""
    statement = sql.SQL(_COMMENT[kind]).format(sql.Identifier(name), sql.Literal(owner.to_comment()))
    try:
        with pg_connections.admin(server.admin()) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        raise translate(exc, f"recording the owner of {kind} {name}") from exc


def _mapped_to(server: Server, tenant: Tenant, uid: str) -> bool:
    if not _described(server, "database", tenant.database)[0]:
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


def drop_owned(server: Server, tenant: Tenant, uid: str) -> list[str]:
    """Drop what of the tenant records the Club `uid` as its owner (rows of a shared database go
    with their role's record: the tenant id it holds). Returns what was left because another Club,
    or none, owns it."""
    kept: list[str] = []
    try:
        role_exists, role = _described(server, "role", tenant.role)
        owner = Owner.from_comment(role)
        drop_role = owner is not None and owner.uid == uid
        if role_exists and not drop_role:
            kept.append(f"role {tenant.role}")
        if drop_role and owner is not None:
            tenant = dataclasses.replace(tenant, club_id=uuid.UUID(owner.tenant))
        drop_database = False
        if tenant.dedicated:
            db_exists, comment = _described(server, "database", tenant.database)
            recorded = Owner.from_comment(comment)
            drop_database = recorded is not None and recorded.uid == uid
            if db_exists and not drop_database:
                kept.append(f"database {tenant.database}")
    except psycopg.Error as exc:
        raise translate(exc, f"reading the owners of the tenant of {tenant.slug}") from exc
    kept += _drop_logins(server, tenant, uid)
    drop_tenant(server, tenant, drop_role=drop_role, drop_database=drop_database)
    return kept


def _drop_logins(server: Server, tenant: Tenant, uid: str) -> list[str]:
    """Drop the Club's login roles (db_logins.py) that record it as their owner; returns the others."""
    kept: list[str] = []
    try:
        with pg_connections.admin(server.admin()) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [tenant.database]
            ).fetchone()
        admin = server.admin(tenant.database if exists else None)
        for login in db_logins.login_names(tenant.role):
            found, comment = _described(server, "role", login)
            owner = Owner.from_comment(comment)
            if owner is not None and owner.uid == uid:
                tenancy.drop_login(admin, login)
            elif found:
                kept.append(f"role {login}")
    except (psycopg.Error, tenancy.TenancyError) as exc:
        raise translate(exc, f"dropping the database logins of {tenant.slug}") from exc
    return kept
